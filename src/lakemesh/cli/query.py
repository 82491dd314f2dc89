"""``lakemesh query``: governed SQL over shared data, printed or written in a format."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lakemesh.cli._common import command, open_mesh, out, print_json
from lakemesh.cli._table import TextTable
from lakemesh.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa


FORMATS = ("table", "csv", "json", "parquet")
#: ``--output FILE`` without ``--format``: the format its extension names.
EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".pq": "parquet"}
EXTENSIONS |= {".txt": "table"}
#: How many rows the terminal table shows.
SHOWN_ROWS = 200


@command(acts=True)
@click.argument("sql")
@click.option("--engine", default="duckdb", show_default=True, help="duckdb | spark")
@click.option(
    "--format",
    "format_",
    metavar="FORMAT",
    help="table | csv | json | parquet (default: table, or what --output's extension says).",
)
@click.option(
    "--output", metavar="FILE", help="Write the result to FILE (replaced only on success)."
)
def query(
    sql: str,
    engine: str,
    format_: str | None,
    output: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Query shared tables in place; every table reference is seen through its policy.

    With --json (and no --output) the rows are printed as a JSON array of objects; with
    --output the rows go to FILE and stdout gets a summary (JSON with --json).
    """
    fmt = choose_format(format_, output, json_)
    target = None if output is None else writable(output)
    from lakemesh.engines import Limits, load_engine
    from lakemesh.query import output as render

    # The engine's first connection opens in the background while the mesh loads.
    load_engine(engine).warm(Limits())
    with open_mesh(home) as mesh:
        result = mesh.query(sql, as_=as_, engine=engine)
    if target is not None:
        data = _encode(result, fmt)
        _write_atomically(target, data)
        summary = {"output": str(target), "format": fmt, "rows": result.num_rows}
        if json_:
            print_json(summary)
        else:
            out.print(f"wrote {result.num_rows} row(s) to {target} ({fmt})")
    elif fmt == "table":
        _print_table(result)
    elif fmt == "json":
        sys.stdout.write(render.to_json(result))
    else:
        sys.stdout.write(render.to_csv(result).decode())


def choose_format(format_: str | None, output: str | None, json_: bool) -> str:
    """The output format: ``--format``, else ``--output``'s extension, else table (JSON
    with ``--json``). Contradictions are usage errors; nothing has run yet."""
    if format_ is not None and format_ not in FORMATS:
        raise InvalidInput(f"invalid format {format_!r}: expected one of {', '.join(FORMATS)}")
    if output is None:
        if json_ and format_ not in (None, "json"):
            raise click.UsageError(f"--json prints JSON rows: it contradicts --format {format_}")
        fmt = format_ or ("json" if json_ else "table")
        if fmt == "parquet":
            raise click.UsageError("--format parquet needs --output FILE")
        return fmt
    if format_ is not None:
        return format_
    by_extension = EXTENSIONS.get(Path(output).suffix.lower())
    if by_extension is None:
        raise click.UsageError(
            f"cannot tell the format of {output!r} from its extension: give --format "
            f"({', '.join(FORMATS)}) or name the file .csv, .json, .parquet or .txt"
        )
    return by_extension


def writable(output: str) -> Path:
    """``--output``'s path, checked before the query runs (its folder must exist)."""
    path = Path(output).expanduser().absolute()
    if path.is_dir():
        raise InvalidInput(f"--output {output}: is a directory")
    if not path.parent.is_dir():
        raise InvalidInput(f"--output {output}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InvalidInput(f"--output {output}: folder {path.parent} is not writable")
    return path


def _encode(result: pa.Table, fmt: str) -> bytes:
    from lakemesh.query import output as render

    if fmt == "json":
        return render.to_json(result).encode()
    if fmt == "csv":
        return render.to_csv(result)
    if fmt == "parquet":
        return render.to_parquet(result)
    return _table_text(result).encode()


def _write_atomically(target: Path, data: bytes) -> None:
    """A temporary file beside ``target``, renamed over it: a failure (or a full disk)
    leaves the old file, never a half-written one."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from exc


def _text_table(result: pa.Table, limit: int = SHOWN_ROWS) -> TextTable:
    from lakemesh.query import output as render

    header, rows = render.to_text_rows(result, limit)
    table = TextTable(*header)
    for row in rows:
        table.add_row(*row)
    return table


def _print_table(result: pa.Table) -> None:
    out.print(_text_table(result))
    more = f" (first {SHOWN_ROWS} shown)" if result.num_rows > SHOWN_ROWS else ""
    out.print(f"{result.num_rows} row(s){more}")


def _table_text(result: pa.Table) -> str:
    """Every row as a text table, for ``--output FILE.txt``."""
    return f"{_text_table(result, result.num_rows)}\n{result.num_rows} row(s)\n"
