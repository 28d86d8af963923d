"""A real calendar client, Debian's `khal`, in a throwaway config: does our iCalendar land in a calendar?"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

KHAL_HINT = "khal not installed: run scripts/ensure-system-packages khal"


@pytest.fixture
def khal(tmp_path: Path):
    """Run khal against a throwaway config and vdir; HOME and XDG dirs point into tmp_path."""
    binary = shutil.which("khal")
    if binary is None:
        pytest.fail(KHAL_HINT)
    vdir = tmp_path / "calendar"
    vdir.mkdir()
    config = tmp_path / "config" / "khal" / "config"
    config.parent.mkdir(parents=True)
    config.write_text(
        "[calendars]\n"
        "[[kkrbot]]\n"
        f"path = {vdir}\n"
        "type = calendar\n"
        "[locale]\n"
        "local_timezone = Europe/Copenhagen\n"
        "default_timezone = Europe/Copenhagen\n"
        "timeformat = %H:%M\n"
        "dateformat = %Y-%m-%d\n"
        "longdateformat = %Y-%m-%d\n"
        "datetimeformat = %Y-%m-%d %H:%M\n"
        "longdatetimeformat = %Y-%m-%d %H:%M\n"
        "[sqlite]\n"
        f"path = {tmp_path / 'khal.db'}\n"
    )
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(config.parent.parent),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "TZ": "Europe/Copenhagen",
        "LC_ALL": "C.UTF-8",
    }

    def run(*args: str) -> str:
        done = subprocess.run([binary, "-c", str(config), *args], env=env, capture_output=True,
                              text=True, timeout=60)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"khal {' '.join(args)} failed ({done.returncode}):\n{output}"
        return output

    run.vdir = vdir
    return run


def khal_import(khal, tmp_path: Path, name: str, ics: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(ics)
    output = khal("import", "--batch", str(path))
    assert "Cannot find timezone" not in output, output  # khal's complaint when a VTIMEZONE is missing
    assert "warning" not in output.lower(), output
    return output


def khal_events(khal) -> list[str]:
    output = khal("list", "2026-12-09", "2026-12-12", "--day-format", "",
                  "--format", "{cancelled}{start}|{end}|{title}|{location}")
    return [line for line in output.splitlines() if line.strip()]
