"""What every command shares: the root group, consoles, and the --home/--json/--as options.

Commands are plain Click. Command modules import the heavy parts of lakemesh (``Mesh``,
pyarrow, SQLAlchemy) inside the command functions, so that ``lakemesh --help``, a usage
error or a quick command does not pay for what it does not use.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

import lakemesh
from lakemesh.cli._table import TextTable

if TYPE_CHECKING:
    from rich.console import Console

    from lakemesh.mesh import Mesh

#: ``lakemesh.access.principals.MESH_ADMIN``, written out so that the CLI's start-up does not
#: import the store layer for a default value (a test keeps the two equal).
MESH_ADMIN = "admin@central"

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Output:
    """One output stream. Tables are ``TextTable``s; Rich (imported on first use) only
    draws progress bars on a terminal."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr
        self._console: Console | None = None

    @property
    def stream(self) -> Any:
        return sys.stderr if self.stderr else sys.stdout

    @property
    def is_terminal(self) -> bool:
        return bool(self.stream.isatty())

    def print(self, obj: str | TextTable) -> None:
        """A line, or a table (text is written as it is: never read as markup)."""
        self.stream.write(f"{obj}\n")

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr, highlight=False)  # no file=: follows
        return self._console


out = Output()
err = Output(stderr=True)


@click.group(
    context_settings=CONTEXT,
    epilog=(
        "--home, --json and --as may stand before the command or after it: "
        "'lakemesh --home m sync' is 'lakemesh sync --home m'. Without --as the local CLI "
        "acts as the mesh admin admin@central. It is an operator's tool, like sqlite3: "
        "whoever can read and write the mesh home is trusted (--as is not "
        "authentication); the HTTP API authenticates with tokens."
    ),
)
@click.version_option(
    lakemesh.__version__, "--version", prog_name="lakemesh", message="%(prog)s %(version)s"
)
def app() -> None:
    """lakemesh: a data mesh with central governance."""


def group(name: str, help: str) -> click.Group:
    """A command group, ``lakemesh NAME ...``."""
    sub = click.Group(name, help=help, context_settings=CONTEXT)
    app.add_command(sub)
    return sub


def command(
    parent: click.Group = app, name: str | None = None, *, acts: bool = False
) -> Callable[[Callable[..., Any]], click.Command]:
    """A command of ``parent`` with the options every command takes (SPEC 3): ``--home``
    and ``--json``, and ``--as`` for commands that act for someone (``acts``)."""

    def decorate(fn: Callable[..., Any]) -> click.Command:
        fn = _JSON(fn)
        fn = _HOME(fn)
        if acts:
            fn = _AS(fn)
        cmd = parent.command(name, context_settings=CONTEXT)(fn)
        cmd.params.sort(key=lambda p: p.name in ("as_", "home", "json_"))  # theirs last
        return cmd

    return decorate


_HOME = click.option(
    "--home",
    metavar="DIR",
    default=None,
    help="Mesh home (default: $LAKEMESH_HOME, else ./mesh).",
)
_JSON = click.option("--json", "json_", is_flag=True, help="Machine-readable output on stdout.")
_AS = click.option(
    "--as",
    "as_",
    metavar="PRINCIPAL",
    default=MESH_ADMIN,
    show_default=True,
    help="The principal to act as (user@domain).",
)


def open_mesh(home: str | None) -> Mesh:
    """The mesh at ``home``, imported on first use (see the module docstring)."""
    from lakemesh.mesh import Mesh

    return Mesh.open(home)


def split(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when the option was not given)."""
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def print_json(data: Any) -> None:
    """``data`` as indented JSON; typed results (pydantic models) as their JSON form."""
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else str(value)


def warn(messages: Sequence[str]) -> None:
    """Warnings on stderr, after what stdout already holds (so a terminal or a log that
    takes both streams shows them in the order they happened)."""
    if messages:
        sys.stdout.flush()
    for m in messages:
        err.print(f"warning: {m}")


def when(iso: str | None) -> str:
    """An ISO timestamp for a terminal table: to the second, a space for the T."""
    return "-" if iso is None else iso[:19].replace("T", " ")


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A Rich progress bar on stderr for long crawls and syncs (only on a terminal)."""
    if not enabled or not err.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err.console(), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update
