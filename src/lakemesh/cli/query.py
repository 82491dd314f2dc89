"""``lakemesh query``: governed SQL over shared data, printed or written in a format."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click

from lakemesh.cli._common import command, open_mesh, out, print_json
from lakemesh.cli._table import TextTable
from lakemesh.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from lakemesh.engines import Batches


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

    # The engine's first connection opens in the background while the mesh loads.
    load_engine(engine).warm(Limits())
    with open_mesh(home) as mesh, mesh.query_stream(sql, as_=as_, engine=engine) as result:
        if target is not None:
            rows = _write_atomically(target, lambda fh: _writer(fmt)(result, result.schema, fh))
            summary = {"output": str(target), "format": fmt, "rows": rows}
            if json_:
                print_json(summary)
            else:
                out.print(f"wrote {rows} row(s) to {target} ({fmt})")
        elif fmt == "table":
            _print_table(result)
        else:
            # Encoded as it arrives, printed once whole: a failure halfway prints nothing.
            buffer = io.BytesIO()
            _writer(fmt)(result, result.schema, buffer)
            sys.stdout.flush()
            sys.stdout.buffer.write(buffer.getvalue())


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


def _write_table_text(result: Batches, schema: pa.Schema, sink: IO[bytes]) -> int:
    """Every row as a text table, for ``--output FILE.txt`` (held whole: it is aligned)."""
    import pyarrow as pa

    table = pa.Table.from_batches(list(result), schema=schema)
    rows: int = table.num_rows
    sink.write(f"{_text_table(table, rows)}\n{rows} row(s)\n".encode())
    return rows


def _writer(fmt: str) -> Callable[[Batches, pa.Schema, IO[bytes]], int]:
    """The function writing ``fmt`` as batches arrive (imported here: most runs print a
    table)."""
    from lakemesh.query import output as render

    writers: dict[str, Callable[[Batches, pa.Schema, IO[bytes]], int]] = {
        "json": render.write_json,
        "csv": render.write_csv,
        "parquet": render.write_parquet,
        "table": _write_table_text,
    }
    return writers[fmt]


def _write_atomically(target: Path, write: Callable[[IO[bytes]], int]) -> int:
    """``write`` into a temporary file beside ``target``, renamed over it: a failure (or
    a full disk) leaves the old file, never a half-written one. Returns what ``write``
    returned (the row count)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    rows: int
    try:
        with os.fdopen(fd, "wb") as fh:
            rows = write(fh)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rows


def _text_table(result: pa.Table, limit: int = SHOWN_ROWS) -> TextTable:
    from lakemesh.query import output as render

    header, rows = render.to_text_rows(result, limit)
    table = TextTable(*header)
    for row in rows:
        table.add_row(*row)
    return table


def _print_table(result: Batches) -> None:
    """The first ``SHOWN_ROWS`` rows as a table, and how many there were in all."""
    import pyarrow as pa

    kept: list[pa.RecordBatch] = []
    held = total = 0
    for batch in result:
        total += batch.num_rows
        if held < SHOWN_ROWS:
            kept.append(batch.slice(0, SHOWN_ROWS - held))
            held += kept[-1].num_rows
    out.print(_text_table(pa.Table.from_batches(kept, schema=result.schema)))
    more = f" (first {SHOWN_ROWS} shown)" if total > SHOWN_ROWS else ""
    out.print(f"{total} row(s){more}")
