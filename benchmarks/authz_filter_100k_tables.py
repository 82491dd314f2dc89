"""Listing: which of 100,000 tables one principal may DESCRIBE, in one call vs one by one."""

from __future__ import annotations

from typing import Any

from benchmarks import _authz_fixture as af
from benchmarks._common import interleaved, log, median, result, timed

NAME = "authz_filter_100k_tables"
TARGET_MS = 50.0
TARGET_SPEEDUP = 20.0
ACTION = "DESCRIBE"
DESCRIPTION = """
Fixture (built once, not timed): the population of authz_check_p99_100k (20 domains,
5,000 users, 100,000 named and 1,000 tag-expression grants, same generator) over a
catalog of 100,000 tables (200 databases of 500), plus a consumer domain 'probe' with one
member, analyst@probe. Its domain's ceiling: database grants on a quarter of the
databases, table grants on 2% of the tables, tier=gold (unscoped) and sensitivity=public
(scoped to dom01). Its own grants: DESCRIBE on 8 databases inside and 4 outside the
ceiling, table grants on half the ceiling's tables (with a column list) and on 1% random
tables (with a row filter), geo=eu AND sensitivity=confidential; its role's: 2 databases,
sensitivity=internal, pii=yes scoped to dom02. So ~9% of the catalog is visible, through
table, database and tag grants, with the ceiling removing part of what its own grants
name. Ours: authz.filter_allowed('analyst@probe', 'DESCRIBE', all 100,000 names) on the
Authorizer of mesh.gate.authz(). Peer: the single-check loop [n for n in names if
authz.decide(p, 'DESCRIBE', n).allowed] on the same Authorizer. Both must return the
same list (checked every repetition). Values: median seconds (shown in ms) over 5
interleaved repetitions, each after a full gc.collect(); targets: ours <= 50 ms and
loop / ours >= 20.
"""


def run(ctx: Any) -> list[dict[str, Any]]:
    fx = af.wide_fixture(ctx)
    mesh = fx.open()
    try:
        return _run(fx, mesh)
    finally:
        mesh.close()
        af.release(ctx, "wide")  # only this benchmark uses the 100,000-table catalog


def _run(fx: af.Fixture, mesh: Any) -> list[dict[str, Any]]:
    seconds, authz = timed(mesh.gate.authz)
    log(f"{NAME}: snapshot of {len(authz.snapshot.tables):,} tables loaded in {seconds:.1f} s")
    probe = fx.world.probe
    assert probe is not None
    names = [tr.name for tr in fx.world.tables]
    decisions = [authz.decide(probe, ACTION, n) for n in names]
    expected = [n for n, d in zip(names, decisions, strict=True) if d.allowed]
    ceiling = sum(1 for d in decisions if (d.missing or "").startswith("domain "))
    share = len(expected) / len(names)
    log(
        f"{NAME}: {probe} may describe {len(expected):,} of {len(names):,} tables "
        f"({share:.1%}); the ceiling denies {ceiling:,} its own grants name"
    )
    if not 0.05 <= share <= 0.15 or not ceiling:
        raise RuntimeError(f"fixture off target: visible share {share:.3f}, ceiling {ceiling}")

    def ours() -> float:
        seconds, out = timed(lambda: authz.filter_allowed(probe, ACTION, names))
        if out != expected:
            raise RuntimeError("filter_allowed differs from the single-check loop")
        return float(seconds)

    def loop() -> float:
        seconds, out = timed(lambda: [n for n in names if authz.decide(probe, ACTION, n).allowed])
        if out != expected:
            raise RuntimeError("the single-check loop changed its answer")
        return float(seconds)

    ours()  # warm-up
    a, b = interleaved(fx.size.filter_reps, ours, loop, NAME)
    o, p = median(a) * 1000, median(b) * 1000
    return [
        result(
            NAME,
            "ms",
            o,
            "ms",
            peer="single-check loop over decide()",
            peer_value=p,
            target=f"<= {TARGET_MS:g}",
            meets=o <= TARGET_MS,
        ),
        result(
            NAME,
            "speedup_vs_loop",
            p / o,
            "x",
            peer="single-check loop over decide()",
            target=f">= {TARGET_SPEEDUP:g}",
            meets=p / o >= TARGET_SPEEDUP,
        ),
        result(NAME, "visible_share", share, "fraction", target="info", meets=True),
    ]
