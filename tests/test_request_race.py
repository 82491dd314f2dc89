"""Two processes decide the same access request at the same moment (SPEC 2.6): exactly one
wins; the other gets ``Conflict`` (exit code 1 from the CLI) and changes nothing. The
winner's grants exist once, the ticket's history has one decision, the audit log one
"ok" and one "refused" record, and the chain verifies. On SQLite and PostgreSQL, through
the Python API and the CLI, approve against approve and approve against reject."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import queue
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from tests import govmesh

pytestmark = govmesh.ON_BOTH_STORES

#: Both may decide a cb request: its steward and the mesh admin.
DECIDERS = ("steward@cb", "admin@central")
REQUESTERS = ("analyst@analytics", "other@analytics", "admin@analytics")
TABLES = ("cb.sales.orders", "cb.sales.customers")
MIN_OVERLAPPING = 3
TIMEOUT = 120.0


def decider(
    home: str, actor: str, verb: str, ids: list[str], via: str, barrier: Any, results: Any
) -> None:
    from lakemesh.cli import main
    from lakemesh.errors import Conflict

    mesh = Mesh.open(home)
    mesh.gate.authz()
    try:
        for rid in ids:
            barrier.wait(TIMEOUT)
            start = time.monotonic()
            if via == "cli":
                err = io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = main(["request", verb, rid, "--as", actor, "--home", home])
                outcome = {0: "won", 1: "conflict"}.get(code, f"exit code {code}")
                said = err.getvalue()
            else:
                try:
                    if verb == "approve":
                        mesh.requests.approve(rid, as_=actor)
                    else:
                        mesh.requests.reject(rid, as_=actor)
                    outcome, said = "won", ""
                except Conflict as exc:
                    outcome, said = "conflict", str(exc)
            results.put((rid, actor, verb, outcome, said, start, time.monotonic()))
    except BaseException as exc:
        barrier.abort()
        results.put(("crashed", actor, verb, type(exc).__name__, str(exc), 0.0, 0.0))
        raise
    finally:
        mesh.close()


@pytest.mark.parametrize(
    ("via", "verbs"), [("api", ("approve", "approve")), ("cli", ("approve", "reject"))]
)
def test_of_two_concurrent_deciders_exactly_one_wins(
    gov: Mesh, via: str, verbs: tuple[str, str]
) -> None:
    for table in TABLES:
        gov.products.register(table, owner="steward@cb")
    (gov.home / "rules.yaml").write_text(
        "rules:\n  - name: all-wait\n    then: {route: stewards}\n"
    )
    ids = [
        gov.requests.create(table, reason="race", as_=who).id
        for who in REQUESTERS
        for table in TABLES
    ]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=decider, args=(str(gov.home), actor, verb, ids, via, barrier, results))
        for actor, verb in zip(DECIDERS, verbs, strict=True)
    ]
    for p in procs:
        p.start()
    got: list[tuple[Any, ...]] = []
    try:
        while len(got) < 2 * len(ids):
            try:
                item = results.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"the deciders stopped answering; results so far: {got}")
            assert item[0] != "crashed", f"a decider crashed: {item}"
            got.append(item)
    finally:
        for p in procs:
            p.join(TIMEOUT)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]

    overlapping = 0
    for rid in ids:
        mine = [o for o in got if o[0] == rid]
        assert sorted(o[3] for o in mine) == ["conflict", "won"], mine
        [winner] = [o for o in mine if o[3] == "won"]
        [loser] = [o for o in mine if o[3] != "won"]
        assert f"request {rid}" in loser[4], loser
        if via == "cli":
            assert loser[4].startswith("error: ") and loser[4].count("\n") == 1, loser[4]
        s1, e1, s2, e2 = mine[0][5], mine[0][6], mine[1][5], mine[1][6]
        overlapping += max(s1, s2) < min(e1, e2)

        ticket, history = gov.requests.show(rid)
        expected = "approved" if winner[2] == "approve" else "rejected"
        assert ticket.status == expected
        assert [h.kind for h in history] == ["created", expected]
        assert ticket.decided_by == winner[1]
        assert len(ticket.grant_ids) == (2 if expected == "approved" else 0)
        records = gov.audit.records(resource=rid)
        decided = [r for r in records if r.action in ("request.approve", "request.reject")]
        assert sorted(r.outcome for r in decided) == ["ok", "refused"], decided
    with gov.store.read() as conn:
        made = conn.execute(
            select(func.count())
            .select_from(t.grants)
            .where(t.grants.c.principal.in_([*REQUESTERS, "analytics"]))
        ).scalar_one()
    approved = [gov.requests.show(rid)[0] for rid in ids]
    assert made == len({g for tk in approved for g in tk.grant_ids})  # none from a loser
    assert gov.audit.verify().ok
    assert overlapping >= MIN_OVERLAPPING, (
        f"only {overlapping} of {len(ids)} rounds overlapped in time: not a race"
    )
