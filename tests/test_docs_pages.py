"""The pages under docs/ are kept honest by tests (STYLE 14): every ``lakemesh ...`` line
they show parses against the real Click tree, every setting configuration.md names exists
in ``Settings`` (and every setting is named there), and every relative link resolves.

Command lines in ``sh`` blocks are meant to be run: they are parsed by Click itself
(arguments, option values, required options). Command lines anywhere else (inline code,
synopsis blocks) may use metasyntax (``TABLE``, ``[--columns C1,C2]``): for those the
command must exist and every option they name must be one it takes. docs/cli.md is
generated and checked by tests/test_cli_reference.py.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from pydantic import BaseModel

from lakemesh.cli import GLOBAL_OPTIONS, hoist_global_options, root
from lakemesh.cli.reference import anchor
from lakemesh.events import Event
from lakemesh.home import Settings
from tests.test_docs import _options, _resolve

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "cli.md")
README = ROOT / "README.md"
app = root()

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.M | re.S)
_INLINE = re.compile(r"`([^`]+)`")
_SHELL = {"sh", "bash", "shell", "console"}
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
_LINK = re.compile(r"(!?)\[[^\]]*\]\(([^)\s]+)\)")
_IMAGE = re.compile(r"\.(png|jpe?g|gif|svg|webp)(#.*)?$", re.I)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _blocks(text: str) -> Iterator[tuple[str, str]]:
    for m in _FENCE.finditer(text):
        yield m.group(1), m.group(2)


def _without_blocks(text: str) -> str:
    return _FENCE.sub("", text)


def _command(line: str) -> str | None:
    """``line`` from ``lakemesh`` on, if it is a lakemesh command line (a ``$`` prompt,
    ``.venv/bin/`` and ``VAR=value`` prefixes allowed)."""
    line = line.strip().removeprefix("$ ")
    line = re.sub(r"^(\w+=\S+\s+)+", "", line)
    line = re.sub(r"^(\.venv/bin/)", "", line)
    return line if line.startswith("lakemesh ") else None


def _shell_lines(text: str) -> list[str]:
    found = []
    for tag, body in _blocks(text):
        if tag in _SHELL:
            joined = re.sub(r"\\\n\s*", " ", body)
            found += [c for line in joined.splitlines() if (c := _command(line))]
    return found


def _synopsis_lines(text: str) -> list[str]:
    found = []
    for tag, body in _blocks(text):
        if tag in ("", "text"):
            joined = re.sub(r"\\\n\s*", " ", body)
            found += [c.split("#")[0] for line in joined.splitlines() if (c := _command(line))]
    for span in _INLINE.findall(_without_blocks(text)):
        if c := _command(" ".join(span.split())):
            found.append(c)
    return found


def _pages_and_readme() -> list[Path]:
    return [*PAGES, README]


# --------------------------------------------------------------------------- commands


def parse(line: str) -> click.Context:
    """Parse a full command line as the CLI would; raises click's usage errors."""
    args = shlex.split(line, comments=True)[1:]
    if args == ["--version"]:
        return click.Context(app, info_name="lakemesh")
    args = hoist_global_options(app, args)
    cmd: click.Command = app
    ctx = click.Context(app, info_name="lakemesh")
    name = "lakemesh"
    while isinstance(cmd, click.Group):
        if not args:
            raise click.UsageError(f"'{ctx.command_path}' is a group: name a command", ctx)
        found, sub, args = cmd.resolve_command(ctx, args)
        assert found is not None and sub is not None
        name, cmd = found, sub
        ctx = click.Context(cmd, info_name=name, parent=ctx)
    return cmd.make_context(name, list(args), parent=ctx.parent)


def check_synopsis(line: str) -> None:
    """The command a synopsis line names exists and takes every option it names."""
    words = line.split()[1:]
    if words[:1] == ["--version"]:
        return
    plain = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word.partition("=")[0] in GLOBAL_OPTIONS:
            skip = GLOBAL_OPTIONS[word.partition("=")[0]] and "=" not in word
        else:
            plain.append(word)
    path, cmd = _resolve(plain)
    rest = plain[len(path) :] if path[-1:] != ("run",) else plain[len(path) - 1 :]
    if isinstance(cmd, click.Group):
        # a lower-case word where a subcommand goes must be one (``TABLE``, ``...``: metasyntax)
        stray = [w for w in rest[:1] if re.fullmatch(r"[a-z][a-z_-]*", w)]
        assert not stray, f"'{line}': 'lakemesh {' '.join(path)}' has no command {stray[0]!r}"
        taken = {"--help"}
    else:
        taken = _options(cmd) | {"--help"}
        taken |= {o for p in cmd.params for o in p.opts if o in GLOBAL_OPTIONS}
    named = set(_OPTION.findall(" ".join(rest)))
    global_named = {o for o in _OPTION.findall(line) if o in GLOBAL_OPTIONS}
    unknown = (named | global_named) - taken
    assert not unknown, f"'{line}': 'lakemesh {' '.join(path)}' takes no {sorted(unknown)}"


def _all_shell_lines() -> list[tuple[str, str]]:
    return [(p.name, c) for p in _pages_and_readme() for c in _shell_lines(_text(p))]


def _all_synopsis_lines() -> list[tuple[str, str]]:
    return [(p.name, c) for p in _pages_and_readme() for c in _synopsis_lines(_text(p))]


def test_the_docs_show_commands() -> None:
    assert len(_all_shell_lines()) > 80
    assert len(_all_synopsis_lines()) > 40
    assert {p.name for p in PAGES} >= {
        "index.md",
        "concepts.md",
        "domains-and-sync.md",
        "access-control.md",
        "classification.md",
        "data-products.md",
        "access-requests.md",
        "events.md",
        "querying.md",
        "audit.md",
        "http-api.md",
        "web-ui.md",
        "configuration.md",
        "scaling.md",
        "security.md",
    }


@pytest.mark.parametrize(("page", "line"), _all_shell_lines())
def test_every_shell_command_parses(page: str, line: str) -> None:
    try:
        parse(line)
    except click.UsageError as exc:
        pytest.fail(f"{page}: '{line}' does not parse: {exc.format_message()}")


@pytest.mark.parametrize(("page", "line"), _all_synopsis_lines())
def test_every_command_mentioned_exists(page: str, line: str) -> None:
    check_synopsis(line)


@pytest.mark.parametrize(
    "line",
    [
        "lakemesh domain frobnicate sales",
        "lakemesh query 'SELECT 1' --engine duckdb --frobnicate",
        "lakemesh domain list --as analyst@analytics",
        "lakemesh domain create sales",
        "lakemesh sync --interval soon",
    ],
)
def test_the_check_catches_a_wrong_command(line: str) -> None:
    with pytest.raises(click.UsageError):
        parse(line)


@pytest.mark.parametrize(
    "line",
    ["lakemesh domain frobnicate NAME", "lakemesh grant SELECT --on T --frobnicate X"],
)
def test_the_synopsis_check_catches_a_wrong_command(line: str) -> None:
    with pytest.raises(AssertionError):
        check_synopsis(line)


# --------------------------------------------------------------------------- settings


def _setting_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths = set()
    for name, field in model.model_fields.items():
        path = prefix + name
        paths.add(path)
        kind = field.annotation
        for candidate in (kind, *getattr(kind, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                paths |= _setting_paths(candidate, path + ".")
    return paths


def _event_types(cls: type[Event]) -> set[str]:
    found = set()
    for sub in cls.__subclasses__():
        if isinstance(getattr(sub, "type", None), str):
            found.add(sub.type)
        found |= _event_types(sub)
    return found


SETTINGS = _setting_paths(Settings)
SECTIONS = {p for p in SETTINGS if "." not in p}
#: Event types share the settings' look (``workflow.rules.loaded``): not settings.
EVENT_TYPES = _event_types(Event)


def _named_settings(text: str) -> set[str]:
    found = set()
    for span in _INLINE.findall(_without_blocks(text)):
        if span in EVENT_TYPES:
            continue
        dotted = re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", span) and span.split(".")[0] in SECTIONS
        if dotted or span == "db_url":
            found.add(span)
    return found


def _json_keys(value: object, prefix: str = "") -> set[str]:
    if not isinstance(value, dict):
        return set()
    keys = set()
    for key, inner in value.items():
        keys.add(prefix + key)
        keys |= _json_keys(inner, prefix + key + ".")
    return keys


def test_every_setting_named_in_configuration_exists() -> None:
    text = _text(DOCS / "configuration.md")
    named = _named_settings(text)
    for tag, body in _blocks(text):
        if tag == "json":
            named |= _json_keys(json.loads(body))
    assert len(named) > 30
    unknown = named - SETTINGS
    assert not unknown, f"configuration.md names settings that do not exist: {sorted(unknown)}"


def test_every_setting_is_documented() -> None:
    named = _named_settings(_text(DOCS / "configuration.md"))
    missing = {p for p in SETTINGS if p not in SECTIONS or p == "db_url"} - named
    assert not missing, f"configuration.md does not describe {sorted(missing)}"


def test_settings_named_on_other_pages_exist() -> None:
    for page in [*PAGES, README]:
        unknown = _named_settings(_text(page)) - SETTINGS
        assert not unknown, f"{page.name} names settings that do not exist: {sorted(unknown)}"


# --------------------------------------------------------------------------- links


def _anchors(path: Path) -> set[str]:
    text = _without_blocks(_text(path))
    return {anchor(m) for m in re.findall(r"^#+\s+(.+?)\s*$", text, re.M)}


def _links() -> list[tuple[Path, str]]:
    found = []
    for page in [*sorted(DOCS.glob("*.md")), README]:
        for _image, target in _LINK.findall(_without_blocks(_text(page))):
            if re.match(r"[a-z]+:", target):
                continue  # URLs
            found.append((page, target))
    return found


def test_every_relative_link_resolves() -> None:
    links = _links()
    assert len(links) > 40
    for page, target in links:
        where, _, fragment = target.partition("#")
        path = (page.parent / where).resolve() if where else page
        assert path.exists(), f"{page.name}: link to {target} does not resolve"
        if _IMAGE.search(where):
            assert path.stat().st_size > 1000, f"{page.name}: {target} is not a picture"
        if fragment and path.suffix == ".md":
            assert fragment in _anchors(path), f"{page.name}: no heading for {target}"


def test_every_page_is_reachable_from_the_index() -> None:
    linked = {t.partition("#")[0] for p, t in _links() if p.name == "index.md"}
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "index.md":
            assert page.name in linked, f"docs/index.md does not link to {page.name}"
