"""docs/cli.md is generated from the Click tree (STYLE 14): the committed page is what the
generator writes now, and every command of the tree has its section."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from lakemesh.cli import root
from lakemesh.cli.reference import REGENERATE, anchor, command_paths, main, render

PAGE = Path(__file__).parents[1] / "docs" / "cli.md"


def test_the_committed_page_is_what_the_generator_writes() -> None:
    committed = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
    assert committed == render(), (
        f"docs/cli.md is out of date with the CLI: regenerate it with `{REGENERATE}` "
        "(from the repository root) and commit it"
    )


def _every_path(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, cmd in group.commands.items():
        found.append((*path, name))
        if isinstance(cmd, click.Group):
            found += _every_path(cmd, (*path, name))
    return found


def test_every_command_of_the_tree_has_a_section() -> None:
    page = render()
    headings = {line[3:] for line in page.splitlines() if line.startswith("## ")}
    paths = _every_path(root())
    assert len(paths) > 50
    for path in paths:
        name = " ".join(("lakemesh", *path))
        assert name in headings, f"docs/cli.md has no section for '{name}'"
        assert f"(#{anchor(name)})" in page, f"the contents do not link to '{name}'"
    assert sorted(command_paths()) == sorted(" ".join(("lakemesh", *p)) for p in paths)


def test_every_option_and_choice_is_described() -> None:
    page = render()
    sections = dict(_sections(page))
    request_list = sections["lakemesh request list"]
    assert "`--status [pending|approved|rejected|revoked|expired]`" in request_list
    assert "one of `pending`, `approved`, `rejected`, `revoked`, `expired`" in request_list
    serve = sections["lakemesh serve"]
    assert "`--workers INTEGER RANGE`" in serve and "default `1`" in serve
    assert "lakemesh serve [OPTIONS]" in serve
    create = sections["lakemesh domain create"]
    assert "`--storage URI` (required)" in create and "`NAME` (required)" in create
    assert "Also takes `--as`, `--home`, `--json`" in create
    assert "`--as`" not in sections["lakemesh domain list"]  # acts as the mesh admin only
    assert "lakemesh classify TABLE" in sections["lakemesh classify run"]


def _sections(page: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for chunk in page.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        out.append((title, body))
    return out


def test_help_text_cannot_break_the_markdown() -> None:
    app = click.Group("lakemesh")

    @app.command("x")
    @click.option("--mode", help="a | b, *not* <c> or [d](e) `f` _g_", default="a")
    def x(mode: str) -> None:
        """# not a heading

        - not a list item
        """

    page = render(app)
    assert "a \\| b, \\*not\\* \\<c\\> or \\[d\\](e) \\`f\\` \\_g\\_" in page
    assert "\n\\# not a heading\n" in page and "\n\\- not a list item\n" in page
    assert "default `a`" in page


def test_check_says_how_to_regenerate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "cli.md"
    stale.write_text("# CLI reference\n", encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    assert REGENERATE in capsys.readouterr().err
    fresh = tmp_path / "fresh.md"
    assert main(["--output", str(fresh)]) == 0
    assert main(["--check", str(fresh)]) == 0
    assert fresh.read_text(encoding="utf-8") == render()
