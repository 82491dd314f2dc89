"""Audit records written while serving an HTTP request carry the request's correlation id,
the one its response (an error's body included) gives the client; CLI records carry none."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lakemesh.api.app import create_app
from lakemesh.mesh import Mesh


def test_the_correlation_id_finds_the_audit_records(sqlite_mesh: Mesh) -> None:
    mesh = sqlite_mesh
    token = mesh.access.new_token("admin@central")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(mesh=mesh, worker=False)) as client:
        refused = client.get("/api/v1/requests/r0123456789ab", headers=auth)
        assert refused.status_code == 404
        cid = refused.json()["correlation_id"]
        assert refused.headers["X-Correlation-ID"] == cid
        ran = client.post(
            "/api/v1/query",
            json={"sql": "SELECT 1 AS one"},
            headers=auth | {"X-Correlation-ID": "q-42"},
        )
        assert ran.status_code == 200 and ran.json() == [{"one": 1}]
        assert ran.headers["X-Correlation-ID"] == "q-42"
        odd = client.get("/api/v1/search?q=x", headers=auth | {"X-Correlation-ID": "bad id\t"})
        assert odd.headers["X-Correlation-ID"] != "bad id\t"  # only plain tokens are echoed
    records = mesh.audit.records()
    by_origin = [r for r in records if r.details.get("origin", {}).get("correlation_id") == cid]
    assert [(r.action, r.outcome) for r in by_origin] == [("request.read", "refused")]
    query = [r for r in records if r.details.get("origin", {}).get("correlation_id") == "q-42"]
    assert query and all(r.details["origin"]["via"] == "http" for r in query)
    token_record = next(r for r in records if r.action == "principal.token")
    assert "origin" not in token_record.details  # the Python API has none
