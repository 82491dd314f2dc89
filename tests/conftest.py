"""Shared fixtures: real stores (SQLite file, PostgreSQL server), meshes, domain data."""

from __future__ import annotations

import functools
import gc
import json
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
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
    """The suite's PostgreSQL server. One that cannot start fails every test that needs
    it: CI installs PostgreSQL, so a missing server is a broken run, not a skip."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(running_server())
        except Exception as exc:
            pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
        yield server


@functools.cache
def _spark_failure() -> str | None:
    """Why this process's Spark session cannot start, or None once it has."""
    problem = None
    # a failed launch leaves PySpark's pipe to the gateway unclosed: not the news here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            from lakemesh.engines.spark import spark_session

            spark_session()
        except Exception as exc:
            detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
            problem = f"Spark could not start (PySpark and Java 17 are needed): {detail}"
        gc.collect()
    return problem


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``spark`` runs only on a live Spark session: it fails, never skips
    or passes, when Spark cannot start (a refused or aborted query is what many attack
    tests expect, so a dead engine would otherwise pass them). Checked before any
    fixture, so the message is this one, not a fixture's."""
    if item.get_closest_marker("spark") is None:
        return
    failure = _spark_failure()
    if failure is not None:
        pytest.fail(failure, pytrace=False)


@pytest.fixture(params=govmesh.BACKENDS)
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
def sqlite_gov_template(tmp_path_factory: pytest.TempPathFactory) -> govmesh.Template:
    return govmesh.Template.build(tmp_path_factory.mktemp("gov"))


@pytest.fixture(scope="session")
def postgresql_gov_template(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> govmesh.Template:
    return govmesh.Template.build(tmp_path_factory.mktemp("gov-pg"), postgres)


@pytest.fixture(scope="session")
def gov_template(sqlite_gov_template: govmesh.Template) -> Path:
    """The SQLite template's home, for tests that copy it themselves."""
    return sqlite_gov_template.home


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store behind ``gov``: SQLite, unless the module runs on both
    (``pytestmark = govmesh.ON_BOTH_STORES``)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def gov_source(backend: str, request: pytest.FixtureRequest) -> govmesh.Template:
    """The template ``gov`` copies, built once per backend (PostgreSQL only if asked)."""
    template: govmesh.Template = request.getfixturevalue(f"{backend}_gov_template")
    return template


@pytest.fixture
def gov(gov_source: govmesh.Template, tmp_path: Path) -> Iterator[Mesh]:
    with gov_source.copy(tmp_path / "home") as mesh:
        yield mesh
