"""``lakemesh query``: governed SQL over shared data, printed or written in a format."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lakemesh.cli._common import As, Home, Json, app, out
from lakemesh.errors import InvalidInput
from lakemesh.mesh import Mesh
from lakemesh.principals import MESH_ADMIN

FORMATS = ("table", "csv", "json", "parquet")


@app.command()
def query(
    sql: str,
    as_: As = MESH_ADMIN,
    engine: Annotated[str, typer.Option(help="duckdb | spark")] = "duckdb",
    format_: Annotated[
        str, typer.Option("--format", help="table | csv | json | parquet")
    ] = "table",
    output: Annotated[str | None, typer.Option(help="Write the result to this file.")] = None,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Query shared tables in place; every table reference is seen through its policy."""
    fmt = "json" if json_ else format_
    if fmt not in FORMATS:
        raise InvalidInput(f"invalid format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "parquet" and output is None:
        raise InvalidInput("--format parquet needs --output FILE")
    with Mesh.open(home) as mesh:
        result = mesh.query(sql, as_=as_, engine=engine)
    data = _render(result, fmt)
    if output is not None:
        Path(output).write_bytes(data if isinstance(data, bytes) else data.encode())
    elif fmt == "table":
        _print_table(result)
    else:
        sys.stdout.write(data if isinstance(data, str) else data.decode())


def _render(result: Any, fmt: str) -> str | bytes:
    if fmt == "json":
        return json.dumps(result.to_pylist(), default=str) + "\n"
    if fmt == "csv":
        import pyarrow.csv as pacsv

        buf = io.BytesIO()
        pacsv.write_csv(result, buf)
        return buf.getvalue().decode()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        buf = io.BytesIO()
        pq.write_table(result, buf)
        return buf.getvalue()
    return ""


def _print_table(result: Any) -> None:
    table = Table(*result.column_names)
    for row in result.to_pylist()[:200]:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    out.print(table)
    more = " (first 200 shown)" if result.num_rows > 200 else ""
    out.print(f"{result.num_rows} row(s){more}", markup=False)
