"""The ``lakemesh`` command line (SPEC 3).

Exit codes: 0 success; 1 a refused or failed operation, with a one-line reason on
stderr; 2 a usage error; 130 after Ctrl-C. Every command takes ``--home`` and
``--json``, and commands that act for someone take ``--as``, before or after the command
name. Commands only parse arguments and render results: the work is done by
``lakemesh.mesh.Mesh``, through its gate.

This module imports nothing heavy at import time: the console script imports it before
``main`` runs, so a Ctrl-C there would escape as a traceback, and ``lakemesh --help``
should not pay for SQLAlchemy, pyarrow or sqlglot.
"""

from __future__ import annotations

import sys

from lakemesh.errors import UsageError, first_line

TYPE_CHECKING = False  # not typing's: see lakemesh/__init__.py
if TYPE_CHECKING:
    from collections.abc import Sequence

    import click

#: The exit code after Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130
#: Options every command understands wherever they stand; True if they take a value.
GLOBAL_OPTIONS = {"--home": True, "--as": True, "--json": False}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn every expected failure into one stderr line and exit code 1.

    Click itself reports usage errors (exit 2) and ``--help``; everything a command
    raises on purpose is a ``LakemeshError``.
    """
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        sys.stderr.write("Aborted!\n")
        return INTERRUPTED


def _main(args: list[str]) -> int:
    import os

    from lakemesh.cli._common import err
    from lakemesh.errors import LakemeshError

    app = root()
    try:
        args = hoist_global_options(app, args)
    except UsageError as exc:
        err.print(f"error: {exc}")
        return 2
    import click

    try:
        code = app.main(args=args, prog_name="lakemesh", standalone_mode=False)
    except click.exceptions.Abort:  # Ctrl-C (Click turns KeyboardInterrupt into Abort)
        err.print("Aborted!")
        return INTERRUPTED
    except click.ClickException as exc:  # usage errors: Click's own message, exit 2
        exc.show()
        return exc.exit_code
    except LakemeshError as exc:
        err.print(f"error: {first_line(exc)}")
        return 1
    except Exception as exc:
        if _is_store_error(exc):
            reason = first_line(getattr(exc, "orig", None) or exc)
            err.print(f"error: metadata store: {reason}")
            return 1
        if os.environ.get("LAKEMESH_DEBUG"):
            raise
        err.print(
            f"error: internal error ({type(exc).__name__}: {first_line(exc)}); "
            "set LAKEMESH_DEBUG=1 for the traceback"
        )
        return 1
    return code if isinstance(code, int) else 0


def root() -> click.Group:
    """The ``lakemesh`` command group with every command registered."""
    from lakemesh.cli import (  # noqa: F401  (register the commands)
        access,
        audit,
        events,
        mesh,
        metadata,
        products,
        query,
        requests,
        serve,
    )
    from lakemesh.cli._common import app

    return app


def hoist_global_options(root: click.Command, args: list[str]) -> list[str]:
    """``lakemesh --home m domain list`` is ``lakemesh domain list --home m``.

    Global options found before the (sub)command names are moved to just after them, so
    an option written again after the command still wins. An option the command does not
    take is a usage error rather than silently ignored: ``--as`` on a command that always
    acts as the mesh admin must not look as if it acted for someone else.
    """
    import click

    path: list[str] = []
    hoisted: list[str] = []
    command = root
    ctx = click.Context(root, info_name="lakemesh")
    i = 0
    while i < len(args) and isinstance(command, click.Group):
        name, eq, _ = args[i].partition("=")
        if name in GLOBAL_OPTIONS:
            width = 2 if GLOBAL_OPTIONS[name] and not eq else 1
            if i + width > len(args):
                raise UsageError(f"option {name} requires an argument")
            hoisted += args[i : i + width]
            i += width
            continue
        sub = command.get_command(ctx, args[i])
        if sub is None:
            break
        path.append(args[i])
        command = sub
        i += 1
    if not hoisted:
        return args
    if isinstance(command, click.Group):  # no command named: help or click's own error
        return path + args[i:]
    takes = {opt for param in command.params for opt in param.opts}
    for option in hoisted:
        name = option.partition("=")[0]
        if name in GLOBAL_OPTIONS and name not in takes:
            raise UsageError(f"{name} does not apply to 'lakemesh {' '.join(path)}'")
    return path + hoisted + args[i:]


def _is_store_error(exc: BaseException) -> bool:
    """A SQLAlchemy error, without importing SQLAlchemy when nothing else did."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    return sa_exc is not None and isinstance(exc, sa_exc.SQLAlchemyError)


def run() -> None:
    """The console script: ``main``, then exit without tearing the interpreter down.

    Finalising every module at exit costs a command about as much as importing
    SQLAlchemy did; everything that matters (transactions, audit records, files) is
    durable before ``main`` returns, so only the output is flushed. Spark keeps the
    ordinary exit: its JVM and scratch folders are shut down by exit handlers (after
    Ctrl-C the JVM is killed first: it may still be busy with the cancelled query).
    """
    import os
    from contextlib import suppress

    code = main()
    if "pyspark" in sys.modules:
        if code == INTERRUPTED and "lakemesh.engines.spark" in sys.modules:
            from lakemesh.engines.spark import stop_jvm

            stop_jvm()  # it may still be busy with the cancelled query
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError):  # a closed pipe (lakemesh ... | head): nothing left to say
            stream.flush()
    os._exit(code)
