"""Two processes revoke the same grant at the same moment (SPEC 2.6): exactly one wins;
the other gets ``Conflict`` ("already revoked", exit code 1 from the CLI) and changes
nothing. One ``grant.revoke`` audit record each ("ok" and "refused"), one
``policy.grant.revoked`` event, an intact audit chain. On SQLite and PostgreSQL, through
the Python API and through the CLI, over several grants so that the race is not vacuous.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import queue
import time
from typing import Any

import pytest

from lakemesh.mesh import Mesh
from tests import govmesh

pytestmark = govmesh.ON_BOTH_STORES

#: Both may revoke a cb grant: the owning domain's steward and its admin.
REVOKERS = ("steward@cb", "admin@cb")
#: One grant per column of cb.sales.orders: five distinct grants to race over.
COLUMNS = ("id", "region", "amount", "email", "dt")
#: Rounds in which the two calls must have overlapped in time (of len(COLUMNS)).
MIN_OVERLAPPING = 3
TIMEOUT = 120.0


def revoker(
    home: str, actor: str, grant_ids: list[str], via: str, barrier: Any, results: Any
) -> None:
    """One racing process: for each grant, wait for the other, then revoke at once."""
    from lakemesh.cli import main
    from lakemesh.errors import Conflict

    mesh = Mesh.open(home)  # opened and warmed before the race, so both start together
    mesh.gate.authz()
    try:
        for gid in grant_ids:
            barrier.wait(TIMEOUT)
            start = time.monotonic()
            if via == "cli":
                err = io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = main(["revoke", gid, "--as", actor, "--home", home])
                outcome = {0: "won", 1: "conflict"}.get(code, f"exit code {code}")
                said = err.getvalue()
            else:
                try:
                    mesh.access.revoke(gid, as_=actor)
                    outcome, said = "won", ""
                except Conflict as exc:
                    outcome, said = "conflict", str(exc)
            results.put((gid, actor, outcome, said, start, time.monotonic()))
    except BaseException as exc:  # reported, not lost in the child's stderr
        barrier.abort()  # the other revoker stops waiting at once
        results.put(("crashed", actor, type(exc).__name__, str(exc), 0.0, 0.0))
        raise
    finally:
        mesh.close()


def race(mesh: Mesh, grant_ids: list[str], via: str) -> list[tuple[Any, ...]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(REVOKERS)), ctx.Queue()
    procs = [
        ctx.Process(target=revoker, args=(str(mesh.home), actor, grant_ids, via, barrier, results))
        for actor in REVOKERS
    ]
    for p in procs:
        p.start()
    got: list[tuple[Any, ...]] = []
    try:
        while len(got) < len(REVOKERS) * len(grant_ids):
            try:
                item = results.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"the revokers stopped answering; results so far: {got}")
            assert item[0] != "crashed", f"a revoker crashed: {item}"
            got.append(item)
    finally:
        for p in procs:
            p.join(TIMEOUT)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    return got


@pytest.mark.parametrize("via", ["api", "cli"])
def test_of_two_concurrent_revokers_exactly_one_wins(gov: Mesh, via: str) -> None:
    grant_ids = [
        gov.access.grant(
            govmesh.request(
                {"grant": "SELECT", "on": "cb.sales.orders", "to": "member@cb", "columns": c}
            ),
            as_="steward@cb",
        )["id"]
        for c in COLUMNS
    ]
    outcomes = race(gov, grant_ids, via)

    overlapping = 0
    for gid in grant_ids:
        mine = [o for o in outcomes if o[0] == gid]
        assert sorted(o[2] for o in mine) == ["conflict", "won"], mine
        [loser] = [o for o in mine if o[2] != "won"]
        assert f"grant {gid} is already revoked" in loser[3], loser
        if via == "cli":
            assert loser[3].startswith("error: ") and loser[3].count("\n") == 1, loser[3]
        (_, _, _, _, s1, e1), (_, _, _, _, s2, e2) = mine
        overlapping += max(s1, s2) < min(e1, e2)

        records = gov.audit.records(action="grant.revoke", resource=gid)
        assert sorted(r.outcome for r in records) == ["ok", "refused"], records
        [winner] = [o for o in mine if o[2] == "won"]
        assert {r.outcome: r.principal for r in records} == {
            "ok": winner[1],
            "refused": loser[1],
        }
        [refused] = [r for r in records if r.outcome == "refused"]
        assert "already revoked" in refused.details["reason"]

    events = gov.events.recent(limit=1000, type_prefix="policy.grant.revoked")
    assert sorted(e["payload"]["grant_id"] for e in events) == sorted(grant_ids)
    assert all(e["payload"]["cascaded"] == [] for e in events)
    listed = {g["id"]: g["status"] for g in gov.access.grants(include_inactive=True)}
    assert all(listed[gid] == "revoked" for gid in grant_ids)
    assert gov.audit.verify().ok
    assert overlapping >= MIN_OVERLAPPING, (
        f"only {overlapping} of {len(grant_ids)} rounds overlapped in time: not a race"
    )
