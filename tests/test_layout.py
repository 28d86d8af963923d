"""The layout of bot/: parts as folders, each with its docstring, kept in order by the contract.

`make test` runs `lint-imports` on the real tree; these tests show that the contract
really fails on an upward import and on a part it does not name.
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("actions", "cli", "config", "core", "demo", "inbound", "mailauth", "meetings", "outbound", "people",
         "privacy", "rules", "store")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """Run lint-imports on a copy of bot/ and pyproject.toml in `tree`, importing bot from there."""
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--no-cache"], cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def copy_of_bot(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_contract_holds_for_the_real_tree(tmp_path):
    result = lint_imports(copy_of_bot(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_fails_and_is_named(tmp_path):
    tree = copy_of_bot(tmp_path)
    with (tree / "bot" / "core" / "clock.py").open("a") as clock:
        clock.write("\nfrom bot.cli import commands  # noqa: E402,F401\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "bot.core is not allowed to import bot.cli" in result.stdout
    assert "bot.core.clock -> bot.cli.commands" in result.stdout


def test_a_part_the_contract_does_not_name_fails(tmp_path):
    tree = copy_of_bot(tmp_path)
    (tree / "bot" / "extras").mkdir()
    (tree / "bot" / "extras" / "__init__.py").write_text('"""A part nobody placed."""\n')
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "bot.extras" in result.stdout


def test_bot_lists_the_parts_and_few_modules():
    folders = sorted(p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and p.name != "__pycache__")
    modules = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert folders == sorted(PARTS)
    assert len(modules) <= 6, modules


def layers() -> list[set[str]]:
    """The contract's layers, top first, each a set of part names."""
    [contract] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return [{name.strip() for name in layer.split("|")} for layer in contract["layers"]]


def test_every_part_says_what_it_does_and_what_it_may_use():
    rank = {name: index for index, layer in enumerate(layers()) for name in layer}
    for part in PARTS:
        docstring = ast.get_docstring(ast.parse((ROOT / "bot" / part / "__init__.py").read_text()))
        assert docstring and 2 <= len(docstring.strip().splitlines()) <= 3, part
        assert re.search(r"\b(uses|may use)\b", docstring, re.I), f"bot/{part}/__init__.py does not say what it may use"
        named = {name for name in re.findall(r"\b([a-z]+)/", docstring) if name in rank}
        above = sorted(name for name in named if rank[name] <= rank[part] and name != part)
        assert not above, f"bot/{part}/__init__.py names {above}, which it may not use"
