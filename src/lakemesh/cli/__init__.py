"""The ``lakemesh`` command line (SPEC 3).

Exit codes: 0 success; 1 a refused or failed operation, with a one-line reason on stderr;
2 a usage error. Every command takes ``--home`` and ``--json``; commands that act for
someone take ``--as``. Commands only parse arguments and render results: the work is
done by ``lakemesh.mesh.Mesh``, through its gate.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from lakemesh.cli import catalog, data, governance  # noqa: F401  (register the commands)
from lakemesh.cli._common import app, err
from lakemesh.errors import LakemeshError
from lakemesh.store import SQLAlchemyError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn every expected failure into one stderr line and exit code 1.

    Typer itself reports usage errors (exit 2) and ``--help``; everything a command
    raises on purpose is a ``LakemeshError``.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name="lakemesh")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except LakemeshError as exc:
        err.print(f"error: {_one_line(exc)}", markup=False)
        return 1
    except SQLAlchemyError as exc:
        err.print(
            f"error: metadata store: {_one_line(getattr(exc, 'orig', None) or exc)}", markup=False
        )
        return 1
    except Exception as exc:
        if os.environ.get("LAKEMESH_DEBUG"):
            raise
        err.print(
            f"error: internal error ({type(exc).__name__}: {_one_line(exc)}); "
            "set LAKEMESH_DEBUG=1 for the traceback",
            markup=False,
        )
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
