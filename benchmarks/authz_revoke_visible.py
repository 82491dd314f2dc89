"""How soon a committed revoke is visible to the gate's decisions."""

from __future__ import annotations

import random
import time
from typing import Any

from benchmarks import _authz_fixture as af
from benchmarks._common import log, percentile, result, timed
from lakemesh.access.principals import MESH_ADMIN

NAME = "authz_revoke_visible"
TARGET_MS = 10.0
ACTION = "SELECT"
SEED = 20_240_613
GIVE_UP_S = 10.0
DESCRIPTION = """
On a private copy of the store of authz_check_p99_100k (100,000 named and 1,000
tag-expression grants), opened with Mesh.open and its snapshot loaded once (untimed).
200 allowed decisions (user, SELECT, table) are picked whose user-side permits all come
from one grant (to the user or its role; table, database or tag grant; a different grant
each). For each: mesh.access.revoke(grant, as_='admin@central') (the real path: the gate
resolves the actor and refreshes, grants.revoke compare-and-sets revoked_at, policy_log
and the audit record in the same transaction, audit checkpoint when due); t0 = when it
returns, i.e. after the commit; then mesh.gate.authz().decide(user, SELECT, table) is
polled until it denies (the refresh applies the grant change incrementally), and the time
from t0 to the first deny is recorded. Values: p50 and p99 over the 200 revokes in ms,
target p99 <= 10 ms; the duration of mesh.revoke itself (info); and how many polls still
saw the grant after its revoke had committed (info, must be 0 for read-your-writes).
"""


def _user_grants(decision: Any) -> set[str]:
    """The grants on the user's side of an allowed decision (ceiling grants excluded)."""
    return {e.split(":")[1] for e in decision.determined_by if e.startswith("grant:")}


def _candidates(fx: af.Fixture, authz: Any, n: int) -> list[tuple[str, str, str]]:
    sampler = af.Sampler(fx.world, authz.decide, random.Random(SEED))
    out: list[tuple[str, str, str]] = []
    used: set[str] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 1000 * n:
            raise RuntimeError(f"only {len(out)} single-grant decisions found")
        user, table = sampler.allowed_candidate()
        d = authz.decide(user, ACTION, table)
        ids = _user_grants(d) if d.allowed else set()
        if len(ids) == 1 and not ids & used:
            used |= ids
            out.append((user, table, ids.pop()))
    return out


def run(ctx: Any) -> list[dict[str, Any]]:
    fx = af.main_fixture(ctx)
    mesh = fx.copy(ctx.work / "authz-revoke")
    try:
        return _run(fx, mesh)
    finally:
        mesh.close()


def _run(fx: af.Fixture, mesh: Any) -> list[dict[str, Any]]:
    seconds, authz = timed(mesh.gate.authz)
    log(f"{NAME}: snapshot loaded in {seconds:.1f} s (not timed)")
    picks = _candidates(fx, authz, fx.size.revokes)
    kinds: dict[str, int] = {}
    for _, _, gid in picks:
        kind = authz.snapshot.by_id[gid].kind
        kinds[kind] = kinds.get(kind, 0) + 1
    log(f"{NAME}: {len(picks)} grants to revoke, by kind {kinds}")
    clock = time.perf_counter_ns
    visible: list[float] = []
    revoke: list[float] = []
    stale = 0
    for user, table, gid in picks:
        start = clock()
        revoked = mesh.access.revoke(gid, as_=MESH_ADMIN)
        t0 = clock()
        while mesh.gate.authz().decide(user, ACTION, table).allowed:
            stale += 1
            if clock() - t0 > GIVE_UP_S * 1e9:
                raise RuntimeError(f"revoke of {gid} not visible after {GIVE_UP_S} s")
        visible.append((clock() - t0) / 1e6)
        revoke.append((t0 - start) / 1e6)
        if revoked != [gid]:
            raise RuntimeError(f"revoke of {gid} revoked {revoked}")
    p50, p99 = percentile(visible, 50), percentile(visible, 99)
    log(
        f"{NAME}: visible after p50 {p50:.2f} ms, p99 {p99:.2f} ms; mesh.revoke p50 "
        f"{percentile(revoke, 50):.1f} ms, p99 {percentile(revoke, 99):.1f} ms; stale {stale}"
    )
    return [
        result(NAME, "p50_ms", p50, "ms", target="info", meets=True),
        result(NAME, "p99_ms", p99, "ms", target=f"<= {TARGET_MS:g}", meets=p99 <= TARGET_MS),
        result(NAME, "revoke_p50_ms", percentile(revoke, 50), "ms", target="info", meets=True),
        result(NAME, "revoke_p99_ms", percentile(revoke, 99), "ms", target="info", meets=True),
        result(NAME, "stale_decisions", float(stale), "count", target="== 0", meets=stale == 0),
    ]
