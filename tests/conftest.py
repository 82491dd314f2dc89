"""Shared fixtures: real stores (SQLite file, PostgreSQL server), meshes, domain data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakemesh.cli import main
from lakemesh.mesh import Mesh
from tests import govmesh
from tests.files import write_jsonl, write_parquet  # noqa: F401  (used by test modules)
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


@pytest.fixture(scope="session")
def gov_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return govmesh.build(tmp_path_factory.mktemp("gov"))


@pytest.fixture
def gov(gov_template: Path, tmp_path: Path) -> Iterator[Mesh]:
    mesh = govmesh.copy(gov_template, tmp_path / "home")
    yield mesh
    mesh.close()
