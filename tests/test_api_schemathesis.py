"""The HTTP API against its own OpenAPI document, with inputs schemathesis generates
from it: as the mesh admin and as a consumer, no request may end in a server error and
every response must match the schema the document declares for it.

Bounded in time: a few examples per operation (the matrix in ``test_api.py`` covers the
meaning of each route; this covers what a route does with inputs nobody thought of).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.test_api import World, build_world, serving

#: Examples per operation and caller: enough to find unhandled inputs, under a minute.
EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def served(
    gov_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, World]]:
    """The prepared mesh behind the app, with a rate limit no generated run reaches."""
    base = tmp_path_factory.mktemp("fuzz")
    world = build_world(gov_template, base / "world")
    with serving(world, base / "home", rate_limit="1000000/second") as (_, client):
        app = client.app
        assert isinstance(app, FastAPI)
        yield app, world


@pytest.mark.parametrize("user", ["admin@central", "analyst@analytics"])
def test_generated_requests(user: str, served: tuple[FastAPI, World]) -> None:
    """Every operation of the document, with generated inputs, as ``user``: every
    failing operation is reported (each with its shrunk example), not just the first."""
    app, world = served
    headers = {"Authorization": f"Bearer {world.tokens[user]}"}
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in api.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself must be valid
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @FUZZ
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # a check failed: note it, try the other operations
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 50
    assert not failures, "\n\n".join(failures)
