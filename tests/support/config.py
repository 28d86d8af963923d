"""Build throwaway config folders from the shipped config/ for one test."""
from __future__ import annotations

import re
import shutil
import socket
from pathlib import Path

from tests.support.postgres import database_env

SHIPPED = Path(__file__).resolve().parents[2] / "config"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_config(root: Path, *, bot_toml: dict[str, str] | None = None, port: int | None = None,
                networks_toml: str | None = None, contacts_csv: str | bytes | None = None,
                env: str | None = None) -> Path:
    """Copy config/ to root/config, with data_dir = root/var and the given overrides.

    `bot_toml` maps a top-level key (or `section.key`) to a TOML value text; it replaces
    the line that sets it.
    """
    config = root / "config"
    shutil.copytree(SHIPPED, config)
    settings = {"data_dir": f'"{root / "var"}"', "receiver.port": str(port or free_port()), **(bot_toml or {})}
    set_keys(config / "bot.toml", settings)
    if networks_toml is not None:
        (config / "networks.toml").write_text(networks_toml, encoding="utf-8")
    if contacts_csv is not None:
        data = contacts_csv.encode("utf-8") if isinstance(contacts_csv, str) else contacts_csv
        (config / "contacts.csv").write_bytes(data)
    (root / ".env").write_text((env or "") + database_env(env or ""), encoding="utf-8")
    return config


def set_keys(path: Path, settings: dict[str, str]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    section = ""
    done = set()
    for index, line in enumerate(lines):
        header = re.match(r"^\[([a-z_.]+)\]", line)
        if header:
            section = header.group(1)
            continue
        key = re.match(r"^([a-z_]+)\s*=", line)
        if key:
            dotted = f"{section}.{key.group(1)}" if section else key.group(1)
            if dotted in settings:
                lines[index] = f"{key.group(1)} = {settings[dotted]}"
                done.add(dotted)
    for dotted, value in settings.items():
        if dotted in done:
            continue
        section, _, key = dotted.rpartition(".")
        headers = [i for i, line in enumerate(lines) if line.startswith(f"[{section}]")]
        if section and headers:
            lines.insert(headers[0] + 1, f"{key} = {value}")
        elif section:
            lines.append(f"[{section}]\n{key} = {value}")
        else:
            lines.insert(0, f"{key} = {value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def shipped_networks() -> str:
    return (SHIPPED / "networks.toml").read_text(encoding="utf-8")


def shipped_contacts() -> str:
    return (SHIPPED / "contacts.csv").read_text(encoding="utf-8")


def imap_env(server, tls: str = "none") -> str:
    port = server.port if tls != "implicit" else server.tls_port
    return (f"IMAP_HOST=127.0.0.1\nIMAP_PORT={port}\nIMAP_USER={server.user}\n"
            f"IMAP_PASSWORD={server.password}\nIMAP_TLS={tls}\n")
