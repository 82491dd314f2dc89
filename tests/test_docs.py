"""The README's command reference only names commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lakemesh.cli import main

README = (Path(__file__).parents[1] / "README.md").read_text()
COMMANDS = sorted(
    {
        " ".join(w for w in m.split() if re.fullmatch(r"[a-z]+", w))[:40]
        for m in re.findall(r"^lakemesh ((?:[a-z]+ ?)+)", README, flags=re.M)
    }
)


def test_readme_opens_with_the_two_commands() -> None:
    head = README[:1200]
    assert "make demo" in head and "make test" in head


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_exists(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*command.split(), "--help"])
    capsys.readouterr()
    assert code == 0, f"README documents 'lakemesh {command}' but no such command exists"


def test_an_undocumented_subcommand_is_caught(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domain", "frobnicate", "--help"]) == 2
