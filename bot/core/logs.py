"""One line per event, as key=value text on stderr.

Values with spaces are quoted; keys that name secrets are never printed.
"""
from __future__ import annotations

import logging
import sys

LOGGER_NAME = "kkrbot"
_SECRET_WORDS = ("password", "secret", "token_secret")


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s %(message)s",
                                           datefmt="%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger(LOGGER_NAME)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def log_event(event: str, level: int = logging.INFO, **fields: object) -> None:
    logging.getLogger(LOGGER_NAME).log(level, format_event(event, **fields))


def format_event(event: str, **fields: object) -> str:
    parts = [f"event={event}"]
    for key, value in fields.items():
        if value is None:
            continue
        if any(word in key.lower() for word in _SECRET_WORDS):
            value = "***"
        parts.append(f"{key}={_quote(value)}")
    return " ".join(parts)


def _quote(value: object) -> str:
    text = str(value).replace("\n", " ").replace("\r", " ")
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
