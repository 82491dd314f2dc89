"""The README is kept honest by tests (STYLE 14): its command synopsis and the real CLI
name the same commands and options, its Python example runs, and it says who the CLI
acts as."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from lakemesh.cli import GLOBAL_OPTIONS, main, root
from tests.files import write_parquet

README = (Path(__file__).parents[1] / "README.md").read_text()
app = root()


def _blocks(language: str) -> list[str]:
    """The fenced code blocks tagged ``language`` ("" for untagged ones), in order."""
    found, current, tag = [], None, ""
    for line in README.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, tag = [], line[3:].strip()
            else:
                if tag == language:
                    found.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return found


def _synopsis() -> list[str]:
    """The synopsis block's lines, continuation lines joined, comments dropped."""
    [block] = [b for b in _blocks("") if "lakemesh init" in b]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line.split("#")[0].strip() for line in joined.splitlines() if line.strip()]


def _leaves(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, (*path, name))
        else:
            yield (*path, name)


def _resolve(words: list[str]) -> tuple[tuple[str, ...], click.Command]:
    cmd: click.Command = app
    path: list[str] = []
    for word in words:
        if not isinstance(cmd, click.Group):
            break
        if word not in cmd.commands:
            default = getattr(cmd, "DEFAULT", None)  # ``classify TABLE``: the group's default
            if default is not None and not word.startswith("-"):
                cmd = cmd.commands[default]
                path.append(default)
            break
        cmd = cmd.commands[word]
        path.append(word)
    return tuple(path), cmd


def _documented() -> dict[tuple[str, ...], set[str]]:
    """Command path -> the options its synopsis lines name."""
    found: dict[tuple[str, ...], set[str]] = {}
    for line in _synopsis():
        assert line.startswith("lakemesh "), line
        words = line.split()[1:]
        path, _ = _resolve(words)
        if words and words[0] == "--version":
            path = ("--version",)
        elif path == ("grant",) and words[1:2] == ["list"]:
            path = ("grant", "list")
        found.setdefault(path, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
    return found


def _options(cmd: click.Command) -> set[str]:
    return {
        o
        for p in cmd.params
        for o in p.opts
        if o.startswith("--") and o not in (*GLOBAL_OPTIONS, "--help")
    }


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:1200]
    assert "make demo" in head and "make test" in head


def test_every_documented_command_and_option_exists() -> None:
    for path, options in _documented().items():
        if path == ("--version",):
            assert main(["--version"]) == 0
            continue
        assert path, f"the synopsis names a command that does not exist: {options}"
        _, cmd = _resolve(list(path[:-1] if path == ("grant", "list") else path))
        assert not isinstance(cmd, click.Group), f"'lakemesh {' '.join(path)}' is a group"
        unknown = options - _options(cmd)
        assert not unknown, f"README documents {unknown} for 'lakemesh {' '.join(path)}'"


def test_every_command_and_option_is_documented() -> None:
    documented = _documented()
    for path in _leaves(app):
        assert path in documented, f"'lakemesh {' '.join(path)}' is missing from the README"
        _, cmd = _resolve(list(path))
        named = set().union(*(v for k, v in documented.items() if k[: len(path)] == path))
        missing = _options(cmd) - named
        assert not missing, f"'lakemesh {' '.join(path)}' options {missing} are not in the README"


def test_the_synopsis_check_catches_an_invented_command(capsys: pytest.CaptureFixture[str]) -> None:
    path, cmd = _resolve(["domain", "frobnicate"])
    assert path == ("domain",) and isinstance(cmd, click.Group)
    assert main(["domain", "frobnicate", "--help"]) == 2
    capsys.readouterr()


def test_readme_says_who_the_cli_acts_as() -> None:
    text = " ".join(README.split())
    assert "without it as the mesh admin `admin@central`" in text
    assert "`--as` is not authentication" in text
    assert "What protects a mesh is the file system" in text


def test_the_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [example] = [b for b in _blocks("python") if "Mesh.init" in b]
    monkeypatch.chdir(tmp_path)
    write_parquet(
        tmp_path / "sales-data" / "shop" / "orders" / "dt=2024-01-01" / "part-0.parquet",
        {"order_id": [1, 2, 3], "amount": [9.5, 3.0, 12.25]},
    )
    exec(compile(example, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "order_id" in printed and "dt=2024-01-01" in printed
    assert "[{'n': 3}]" in printed
    assert os.path.isdir(tmp_path / "mesh")
