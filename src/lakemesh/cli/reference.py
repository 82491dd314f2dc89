"""The CLI reference (``docs/cli.md``), generated from the Click command tree.

``python -m lakemesh.cli.reference --output docs/cli.md`` rewrites the page;
``--check docs/cli.md`` exits 1 when the page is not what the code would write (the tests
do the same). The page is a pure function of the command tree: commands in alphabetical
order, parameters in the order ``--help`` shows them, nothing that depends on the
terminal, the version or the clock, so regenerating it changes it only when a command,
an option or a help text changed.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from lakemesh.cli import GLOBAL_OPTIONS, root

#: How to rewrite the page, for the messages of ``--check`` and the tests.
REGENERATE = "python -m lakemesh.cli.reference --output docs/cli.md"

_HEADER = f"""\
# CLI reference

<!-- Generated from the Click command tree by `{REGENERATE}`.
     Do not edit by hand: tests/test_cli_reference.py fails when it is out of date. -->

Every `lakemesh` command, its usage, arguments and options, as `lakemesh COMMAND --help`
shows them. For what the commands do together, start at [the documentation map](index.md).
Exit codes: 0 success; 1 a refused or failed operation, with a one-line reason on stderr;
2 a usage error; 130 after Ctrl-C. `-h` and `--help` work everywhere.
"""

#: Markdown that help text must not trigger: emphasis, code, HTML, links, tables.
_SPECIAL = re.compile(r"([\\`*<>\[\]|])")
#: ``_`` starts emphasis only next to a non-word character (GFM): escape only those.
_UNDERSCORE = re.compile(r"(?<!\w)_|_(?!\w)")
#: What would make a paragraph a heading, a quote or a list item.
_BLOCK_START = re.compile(r"^(#|>|[-+*] |\d+[.)] )")

#: ``click.core.UNSET`` (Click 8.3+): the default of an option that has none.
_UNSET: object = getattr(click.core, "UNSET", object())


def render(app: click.Group | None = None) -> str:
    """The whole reference page for ``app`` (default: the ``lakemesh`` group)."""
    app = app or root()
    top = click.Context(app, info_name="lakemesh")
    commands = list(_walk(top))
    shared = _shared_options(commands)
    parts = [_HEADER, _contents(commands), _global_section(top, shared)]
    parts += [_command_section(ctx, shared) for ctx in commands]
    return "\n".join(parts).rstrip("\n") + "\n"


def command_paths(app: click.Group | None = None) -> list[str]:
    """``lakemesh domain create`` for every command and group of the tree, in page order."""
    app = app or root()
    return [ctx.command_path for ctx in _walk(click.Context(app, info_name="lakemesh"))]


def anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# --------------------------------------------------------------------------- the tree


def _walk(parent: click.Context) -> Iterator[click.Context]:
    """Every command below ``parent``, depth first, siblings by name (hidden ones too:
    ``classify run`` is what ``lakemesh classify TABLE`` runs)."""
    group = parent.command
    assert isinstance(group, click.Group)
    for name in sorted(group.commands):
        ctx = click.Context(group.commands[name], info_name=name, parent=parent)
        yield ctx
        if isinstance(ctx.command, click.Group):
            yield from _walk(ctx)


@dataclass(frozen=True)
class _Shared:
    """One of ``--home``, ``--json``, ``--as``, described once for the whole page."""

    text: str
    params: tuple[click.Option, ...]


def _shared_options(commands: Sequence[click.Context]) -> dict[str, _Shared]:
    """The global options' common description: the one most commands give them. A
    command whose option reads differently gets it described in its own section."""
    seen: dict[str, dict[str, list[click.Option]]] = {}
    for ctx in commands:
        for param in ctx.command.params:
            if _is_global(param):
                assert isinstance(param, click.Option)
                text = _option_line(ctx, param)
                seen.setdefault(param.opts[0], {}).setdefault(text, []).append(param)
    shared = {}
    for name in GLOBAL_OPTIONS:
        if name in seen:
            text, params = max(seen[name].items(), key=lambda item: len(item[1]))
            shared[name] = _Shared(text, tuple(params))
    return shared


def _is_global(param: click.Parameter) -> bool:
    return isinstance(param, click.Option) and param.opts[0] in GLOBAL_OPTIONS


def _is_help(ctx: click.Context, param: click.Parameter) -> bool:
    return set(param.opts) <= set(ctx.help_option_names)


# --------------------------------------------------------------------------- sections


def _contents(commands: Sequence[click.Context]) -> str:
    lines = ["## Commands", ""]
    for ctx in commands:
        depth = len(ctx.command_path.split()) - 2
        short = _escape(ctx.command.get_short_help_str(limit=200))
        link = f"[`{ctx.command_path}`](#{anchor(ctx.command_path)})"
        lines.append(f"{'  ' * depth}- {link}" + (f": {short}" if short else ""))
    return "\n".join(lines) + "\n"


def _global_section(top: click.Context, shared: dict[str, _Shared]) -> str:
    lines = ["## Options every command shares", ""]
    app = top.command
    if app.epilog:
        lines += [*_paragraphs(app.epilog), ""]
    lines += [f"- {option.text}" for option in shared.values()]
    lines.append("")
    lines.append(
        "Each command's section says which of these it takes (`--as` only where the "
        "command acts for someone)."
    )
    version = [p for p in app.params if isinstance(p, click.Option) and "--version" in p.opts]
    if version:
        lines += ["", "`lakemesh --version` prints the version and exits."]
    return "\n".join(lines) + "\n"


def _command_section(ctx: click.Context, shared: dict[str, _Shared]) -> str:
    cmd = ctx.command
    lines = [f"## {ctx.command_path}", ""]
    lines += ["```", _usage(ctx), "```", ""]
    if cmd.help:
        lines += [*_paragraphs(cmd.help), ""]
    parent = ctx.parent.command if ctx.parent is not None else None
    if getattr(parent, "DEFAULT", None) == ctx.info_name:
        assert ctx.parent is not None
        lines += [
            f"This is what `{ctx.parent.command_path} TABLE` runs: a first word that names "
            "no subcommand is its argument.",
            "",
        ]
    if isinstance(cmd, click.Group):
        lines += ["Subcommands:", ""]
        for name in sorted(cmd.commands):
            sub = cmd.commands[name]
            path = f"{ctx.command_path} {name}"
            short = _escape(sub.get_short_help_str(limit=200))
            lines.append(f"- [`{name}`](#{anchor(path)})" + (f": {short}" if short else ""))
        lines.append("")
    arguments = [p for p in cmd.params if isinstance(p, click.Argument)]
    if arguments:
        lines += ["Arguments:", ""]
        lines += [f"- {_argument_line(ctx, p)}" for p in arguments]
        lines.append("")
    options, common = [], []
    for param in cmd.params:
        if not isinstance(param, click.Option) or _is_help(ctx, param):
            continue
        if _is_global(param) and param in shared[param.opts[0]].params:
            common.append(f"`{param.opts[0]}`")
        else:
            options.append(f"- {_option_line(ctx, param)}")
    if options:
        lines += ["Options:", "", *options, ""]
    if common:
        lines += [f"Also takes {', '.join(common)} ([shared options](#{_SHARED_ANCHOR})).", ""]
    return "\n".join(lines)


_SHARED_ANCHOR = anchor("Options every command shares")


def _usage(ctx: click.Context) -> str:
    """The usage line ``--help`` prints, without its terminal-dependent wrapping."""
    pieces = ctx.command.collect_usage_pieces(ctx)
    return " ".join([ctx.command_path, *pieces])


def _argument_line(ctx: click.Context, param: click.Argument) -> str:
    notes = ["required" if param.required else "optional"]
    if param.nargs == -1:
        notes.append("any number")
    elif param.nargs > 1:
        notes.append(f"{param.nargs} values")
    notes += _type_notes(param.type)
    return f"`{param.make_metavar(ctx)}` ({', '.join(notes)})"


def _option_line(ctx: click.Context, param: click.Option) -> str:
    names = ", ".join(param.opts)
    if not param.is_flag and not param.count:
        names += f" {param.make_metavar(ctx)}"
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    notes = []
    if param.required:
        notes.append("required")
    if param.multiple:
        notes.append("repeatable")
    line = f"`{names}`" + (f" ({', '.join(notes)})" if notes else "")
    if param.help:
        line += f": {_one_paragraph(param.help)}"
    extras = _type_notes(param.type)
    default = _default(ctx, param)
    if default is not None:
        extras.append(f"default `{default}`")
    if param.envvar:
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        extras.append("environment " + ", ".join(f"`${v}`" for v in envvars))
    if extras:
        line += f" ({'; '.join(extras)})" if param.help else f": {'; '.join(extras)}"
    return line


def _default(ctx: click.Context, param: click.Option) -> str | None:
    """The default ``--help`` would show, or the value there is: never a computed one."""
    if isinstance(param.show_default, str):
        return param.show_default
    if param.show_default is False:
        return None
    value = param.get_default(ctx, call=False)
    if value is _UNSET or value is None or callable(value):
        return None
    if param.is_flag or value in ((), [], ""):
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _type_notes(kind: click.ParamType[Any]) -> list[str]:
    if isinstance(kind, click.Choice):
        return ["one of " + ", ".join(f"`{c}`" for c in kind.choices)]
    if isinstance(kind, click.IntRange | click.FloatRange):
        bounds = []
        if kind.min is not None:
            bounds.append(f"{'more than' if kind.min_open else 'at least'} {kind.min}")
        if kind.max is not None:
            bounds.append(f"{'less than' if kind.max_open else 'at most'} {kind.max}")
        word = "an integer" if isinstance(kind, click.IntRange) else "a number"
        return [f"{word} {' and '.join(bounds)}" if bounds else word]
    if isinstance(kind, click.types.IntParamType):
        return ["an integer"]
    if isinstance(kind, click.types.FloatParamType):
        return ["a number"]
    return []


# --------------------------------------------------------------------------- text


def _paragraphs(text: str) -> list[str]:
    """Help text as Markdown paragraphs, split as Click splits it (``\\b`` keeps lines)."""
    text = inspect.cleandoc(text).partition("\f")[0]
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        if block.startswith("\b\n"):
            out += ["```", block[2:], "```"]
        else:
            out.append(_one_paragraph(block))
        out.append("")
    return out[:-1]


def _one_paragraph(text: str) -> str:
    line = _escape(" ".join(text.split()))
    return "\\" + line if _BLOCK_START.match(line) else line


def _escape(text: str) -> str:
    return _UNDERSCORE.sub(r"\\_", _SPECIAL.sub(r"\\\1", text))


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lakemesh.cli.reference",
        description="Write the lakemesh CLI reference (Markdown) from the command tree.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="FILE", help="Write the page to FILE.")
    where.add_argument(
        "--check", metavar="FILE", help="Exit 1 unless FILE is what the page would be."
    )
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        path = Path(args.check)
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != page:
            state = "is out of date" if current is not None else "does not exist"
            sys.stderr.write(f"{path} {state}; regenerate it with: {REGENERATE}\n")
            return 1
        return 0
    if args.output:
        Path(args.output).write_text(page, encoding="utf-8")
        return 0
    sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
