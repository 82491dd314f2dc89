"""``lakemesh user token``: a new API token replaces the old one, issued only by whoever may
create the user; a replaced token no longer authenticates anywhere."""

from __future__ import annotations

import pytest

from lakemesh.errors import NotFound, PermissionDenied
from lakemesh.mesh import Mesh
from tests.conftest import Cli


def test_a_new_token_replaces_the_old_one(sqlite_mesh: Mesh) -> None:
    mesh = sqlite_mesh
    mesh.domains.create("cb", str(mesh.home.parent / "cb"), create=True)
    _, old = mesh.access.create_user("bob@cb")
    assert mesh.access.authenticate(old) is not None
    new = mesh.access.new_token("bob@cb")
    assert new != old and new.startswith("lm_")
    assert mesh.access.authenticate(old) is None
    user = mesh.access.authenticate(new)
    assert user is not None and user.name == "bob@cb"
    (record,) = mesh.audit.records(action="principal.token")
    assert record.outcome == "ok" and old not in str(record) and new not in str(record)


def test_who_may_issue_a_token(sqlite_mesh: Mesh) -> None:
    mesh = sqlite_mesh
    for domain in ("cb", "an"):
        mesh.domains.create(domain, str(mesh.home.parent / domain), create=True)
    mesh.access.create_user("boss@cb", "admin")
    mesh.access.create_user("bob@cb")
    mesh.access.create_user("eve@an", "admin")
    assert mesh.access.new_token("bob@cb", as_="boss@cb")  # the domain's admin
    with pytest.raises(PermissionDenied):
        mesh.access.new_token("bob@cb", as_="eve@an")  # another domain's admin
    with pytest.raises(PermissionDenied):
        mesh.access.new_token("boss@cb", as_="bob@cb")  # a member
    with pytest.raises(NotFound, match="unknown principal 'nobody@cb'"):
        mesh.access.new_token("nobody@cb")
    refused = mesh.audit.records(action="principal.token", outcome="refused")
    assert len(refused) == 3


def test_cli_prints_the_token_once(cli: Cli) -> None:
    assert cli("init")[0] == 0
    code, out, err = cli("user", "token", "admin@central")
    assert code == 0, err
    assert out.startswith("new API token for admin@central (shown once): lm_")
    data = cli.json("user", "token", "admin@central")
    assert data["name"] == "admin@central" and data["token"].startswith("lm_")
    code, out, err = cli("user", "token", "not-a-principal")
    assert code == 1 and err.count("\n") == 1 and "invalid" in err


def test_a_replaced_token_stops_working_through_the_api(sqlite_mesh: Mesh) -> None:
    """The API remembers a looked-up token for ``TOKEN_TTL_SECONDS``: a replaced token is
    refused once that has passed, and the new one works at once."""
    import time

    from fastapi.testclient import TestClient

    from lakemesh.api.app import create_app
    from lakemesh.api.auth import TOKEN_TTL_SECONDS

    mesh = sqlite_mesh
    old = mesh.access.new_token("admin@central")
    with TestClient(create_app(mesh=mesh, worker=False)) as client:

        def status(token: str) -> int:
            headers = {"Authorization": f"Bearer {token}"}
            return client.get("/api/v1/search", params={"q": "x"}, headers=headers).status_code

        assert status(old) == 200
        new = mesh.access.new_token("admin@central")
        assert status(new) == 200
        time.sleep(TOKEN_TTL_SECONDS + 0.2)
        assert status(old) == 401
        assert status(new) == 200
