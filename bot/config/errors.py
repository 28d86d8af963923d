"""Config problems: collected, never raised one at a time.

`kkrbot config check` prints every problem at once, and `kkrbot run` refuses to start
while there is any, so the reader helpers below record a problem and return a
placeholder instead of stopping at the first bad key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any, Iterable

MISSING: Any = object()


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in one file, located as precisely as we can."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


class ConfigError(Exception):
    """Raised once, after validation, carrying every problem found."""

    def __init__(self, problems: Iterable[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Problems:
    """A running list of problems, shared by every reader of one load."""

    items: list[ConfigProblem] = field(default_factory=list)

    def add(self, file: str, where: str, message: str) -> None:
        self.items.append(ConfigProblem(file, where, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


class SourceText:
    """The lines of a TOML file, to turn a key path into a line number.

    tomllib reports line numbers only for syntax errors, so for a bad value we find
    the key ourselves: the n-th `[[header]]`, then the first `key =` below it.
    """

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def header_line(self, header: str, occurrence: int = 0, after: int = 0) -> int | None:
        pattern = re.compile(r"^\s*\[{1,2}\s*" + re.escape(header) + r"\s*\]{1,2}\s*(#.*)?$")
        seen = 0
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if pattern.match(line):
                if seen == occurrence:
                    return number
                seen += 1
        return None

    def key_line(self, key: str, after: int = 0) -> int | None:
        pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if line.lstrip().startswith("["):
                return None  # the next table begins: the key is not in this one
            if pattern.match(line):
                return number
        return None


class Table:
    """Typed, problem-recording access to one TOML table.

    Each getter returns the value or, when it is wrong, records a problem naming
    the file, the line and the key path, and returns a harmless placeholder.
    """

    def __init__(self, data: dict, *, file: str, path: str, problems: Problems,
                 source: SourceText | None = None, line: int = 0):
        self.data = data
        self.file = file
        self.path = path
        self.problems = problems
        self.source = source
        self.line = line
        self.read: set[str] = set()

    # -- locating -----------------------------------------------------------------
    def where(self, key: str | None = None) -> str:
        dotted = f"{self.path}.{key}" if key and self.path else (key or self.path or "(top)")
        number = self.source.key_line(key, self.line) if (self.source and key) else None
        if number is None and self.line:
            number = self.line
        return f"line {number}, key {dotted}" if number else f"key {dotted}"

    def problem(self, key: str | None, message: str) -> None:
        self.problems.add(self.file, self.where(key), message)

    def child(self, key: str, data: dict, header: str | None = None, occurrence: int = 0) -> "Table":
        line = 0
        if self.source and header:
            line = self.source.header_line(header, occurrence, after=self.line) or 0
        return Table(data, file=self.file, path=f"{self.path}.{key}" if self.path else key,
                     problems=self.problems, source=self.source, line=line or self.line)

    # -- getters --------------------------------------------------------------------
    def _get(self, key: str, default: Any, placeholder: Any) -> tuple[Any, bool]:
        """The value and whether it needs checking; a missing required key gets a placeholder."""
        self.read.add(key)
        if key in self.data:
            return self.data[key], True
        if default is MISSING:
            self.problem(key, "is required")
            return placeholder, False
        return default, False

    def text(self, key: str, default: Any = MISSING, pattern: str | None = None, hint: str = "") -> Any:
        value, given = self._get(key, default, "")
        if not given:
            return value
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"must be a non-empty string, not {value!r}")
            return default if default is not MISSING else ""
        if pattern and not re.fullmatch(pattern, value):
            self.problem(key, f"{value!r} is not valid{': ' + hint if hint else ''}")
        return value.strip()

    def integer(self, key: str, default: Any = MISSING, minimum: int | None = None,
            maximum: int | None = None) -> Any:
        value, given = self._get(key, default, 0)
        if not given:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(key, f"must be a whole number, not {value!r}")
            return default if default is not MISSING else 0
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            self.problem(key, f"{value} is out of range ({minimum}..{maximum})")
        return value

    def flag(self, key: str, default: Any = MISSING) -> Any:
        value, given = self._get(key, default, False)
        if given and not isinstance(value, bool):
            self.problem(key, f"must be true or false, not {value!r}")
            return default if default is not MISSING else False
        return value

    def choice(self, key: str, options: Iterable[str], default: Any = MISSING) -> Any:
        options = tuple(options)
        value, given = self._get(key, default, options[0])
        if given and value not in options:
            self.problem(key, f"{value!r} is not one of {', '.join(options)}")
            return options[0]
        return value

    def day(self, key: str, default: Any = MISSING) -> Any:
        value, given = self._get(key, default, date(1970, 1, 1))
        return self.as_date(key, value) if given else value

    def as_date(self, key: str, value: Any) -> date:
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.problem(key, f"must be a date like 2027-02-11, not {value!r}")
        return date(1970, 1, 1)

    def time_of_day(self, key: str, default: Any = MISSING) -> Any:
        value, given = self._get(key, default, time(0, 0))
        if not given or isinstance(value, time):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}[:.]\d{2}", value):
            hours, minutes = (int(part) for part in re.split(r"[:.]", value))
            if hours < 24 and minutes < 60:
                return time(hours, minutes)
        self.problem(key, f"must be a time like \"10:00\", not {value!r}")
        return time(0, 0)

    def items(self, key: str, default: Any = MISSING) -> Any:
        value, given = self._get(key, default, [])
        if given and not isinstance(value, list):
            self.problem(key, f"must be a list, not {value!r}")
            return []
        return value

    def subtable(self, key: str) -> dict:
        value, _ = self._get(key, {}, {})
        if not isinstance(value, dict):
            self.problem(key, "must be a table")
            return {}
        return value

    def reject_unknown(self) -> None:
        """Report keys nobody read: a typo must not be silently ignored."""
        for key in self.data:
            if key not in self.read:
                self.problem(key, "is not a known setting")


def load_toml(path: Path, problems: Problems) -> tuple[dict, SourceText | None]:
    """Parse one TOML file, recording a missing file or a syntax error as a problem."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(str(path), "file", "is missing")
        return {}, None
    except (OSError, UnicodeDecodeError) as error:
        problems.add(str(path), "file", f"cannot be read: {error}")
        return {}, None
    try:
        return tomllib.loads(text), SourceText(text)
    except tomllib.TOMLDecodeError as error:
        problems.add(str(path), _syntax_location(str(error)), f"TOML syntax error: {error}")
        return {}, None


def _syntax_location(message: str) -> str:
    found = re.search(r"line (\d+)", message)
    return f"line {found.group(1)}" if found else "syntax"
