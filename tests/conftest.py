"""Shared fixtures: real stores (SQLite file, PostgreSQL server), meshes, domain data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakemesh.cli import main
from lakemesh.mesh import Mesh
from tests.pgserver import PostgresServer, running_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_server() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store behaviour suite runs once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'lakemesh.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres")
        with server.database() as url:
            yield url


@pytest.fixture
def mesh(tmp_path: Path, db_url: str) -> Iterator[Mesh]:
    m = Mesh.init(tmp_path / "home", db_url)
    yield m
    m.close()


@pytest.fixture
def sqlite_mesh(tmp_path: Path) -> Iterator[Mesh]:
    m = Mesh.init(tmp_path / "home")
    yield m
    m.close()


def write_parquet(path: Path, data: dict[str, list[Any]] | pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = data if isinstance(data, pa.Table) else pa.table(data)
    pq.write_table(table, path)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class Cli:
    """Runs the real CLI entry point in-process and captures its streams."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home, self.capsys = home, capsys

    def __call__(self, *args: str, home: bool = True) -> tuple[int, str, str]:
        self.capsys.readouterr()
        argv = [*args, "--home", str(self.home)] if home else list(args)
        code = main(argv)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "clihome", capsys)
