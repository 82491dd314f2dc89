"""What every command shares: the Typer app, consoles, the --home/--json/--as options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lakemesh.principals import MESH_ADMIN

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="lakemesh: a data mesh with central governance.",
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Home = Annotated[
    str | None, typer.Option("--home", help="Mesh home (default $LAKEMESH_HOME or ./mesh).")
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
As = Annotated[str, typer.Option("--as", help="Principal to act as.")]
DEFAULT_ACTOR = MESH_ADMIN


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def warn(messages: Sequence[str]) -> None:
    for m in messages:
        err.print(f"warning: {m}", markup=False)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    """A Rich progress bar on stderr for long crawls and syncs (only on a terminal)."""
    if not enabled or not err.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=total)
            bar.update(tasks[label], completed=done, total=total)

        yield update
