"""From an access request to a grant the next query can use, on the auto-approval path."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks._common import log, median, percentile, result
from lakemesh.access.grants import GrantRequest
from lakemesh.mesh import Mesh

NAME = "request_auto_approve_p99"
TARGET_MS = 1000.0
SEED = 20_240_701
PRODUCER, CONSUMER = "cb", "analytics"
STEWARD = f"steward@{PRODUCER}"
DATABASES = ("sales", "ops", "finance", "marketing", "logistics")
ROWS = 3
WARMUP = 10  #: untimed rounds per side, on tables of their own
PEER = "admin grants by hand (domain + user) + the same query"
DESCRIPTION = """
A mesh built with the Python API on the embedded SQLite store: producer domain cb with
100 small Parquet tables (3 rows each, none tagged pii, all registered as products so the
consumer may discover them), consumer domain analytics with 20 member users, the default
approval rules (no-pii-auto-approve decides). The tables are split in two halves, one
per side, so each of the 1,000 (user, table) pairs per side is new and both sides face the
same state (the first request on a table also provisions the domain's grant; the other
19 find it and add only the user's). Ours, timed per request from t0 to t1:
mesh.requests.create(table, reason, as_=user) (rules in force read, gate session, one
write transaction: DESCRIBE check, no open ticket, rule evaluation, ticket, the domain
and user SELECT grants, subscription of the holder, three or four outbox events, audit
record), asserting it returns status approved, then mesh.query('select count(*) from
table', as_=user) on DuckDB (the gate refreshes its snapshot, the governed query runs,
its audit record is written), asserting it returns 3. Peer: the mesh admin does the same
by hand, mesh.access.grant(SELECT to analytics on the table) then the same to the user,
then the same query. Ours and the peer alternate request by request (which goes first
alternates too), same process, after 10 untimed rounds each on tables of their own.
Values: p50 and p99 of request-to-usable in ms (target p99 <= 1000 ms), and as info the
median of the create alone (peer: the two grants) and of the query alone.
"""


def _write_table(storage: Path, database: str, name: str) -> str:
    path = storage / database / name / "x.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pa.table(
        {
            "id": pa.array(range(1, ROWS + 1), pa.int64()),
            "region": ["eu", "us", "apac"][:ROWS],
            "amount": [float(i) for i in range(ROWS)],
        }
    )
    pq.write_table(data, path)
    return f"{PRODUCER}.{database}.{name}"


def _build(base: Path, n_tables: int, n_users: int) -> tuple[Mesh, list[str], list[str]]:
    """The mesh; returns it, its tables (warm-up ones first) and the consumer's users."""
    storage = base / PRODUCER
    tables = [
        _write_table(storage, DATABASES[i % len(DATABASES)], f"t{i:03d}") for i in range(n_tables)
    ]
    mesh = Mesh.init(base / "home")
    mesh.domains.create(PRODUCER, str(storage), create=True)
    mesh.domains.create(CONSUMER, str(base / CONSUMER), kind="consumer", create=True)
    mesh.domains.crawl(PRODUCER)
    mesh.domains.sync()
    mesh.access.create_user(STEWARD, "steward")
    users = [f"u{i:02d}@{CONSUMER}" for i in range(n_users)]
    for user in users:
        mesh.access.create_user(user, "member")
    for table in tables:
        mesh.products.register(table, owner=STEWARD)
    return mesh, tables, users


Step = Callable[[str, str], tuple[float, float]]


def _ours(mesh: Mesh) -> Step:
    def step(user: str, table: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        ticket = mesh.requests.create(table, reason="bench", as_=user)
        if ticket.status != "approved":
            raise RuntimeError(f"request {ticket.id} for {table} by {user} is {ticket.status}")
        mid = time.perf_counter()
        _check(mesh.query(f"select count(*) from {table}", as_=user), table)
        return mid - t0, time.perf_counter() - mid

    return step


def _peer(mesh: Mesh) -> Step:
    def step(user: str, table: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        for principal in (CONSUMER, user):
            mesh.access.grant(GrantRequest(actions=("SELECT",), principal=principal, table=table))
        mid = time.perf_counter()
        _check(mesh.query(f"select count(*) from {table}", as_=user), table)
        return mid - t0, time.perf_counter() - mid

    return step


def _check(answer: Any, table: str) -> None:
    count = answer.column(0)[0].as_py()
    if count != ROWS:
        raise RuntimeError(f"select count(*) from {table} returned {count}, expected {ROWS}")


def _pairs(users: list[str], tables: list[str], rng: random.Random) -> list[tuple[str, str]]:
    pairs = [(u, t) for t in tables for u in users]
    rng.shuffle(pairs)
    return pairs


def run(ctx: Any) -> list[dict[str, Any]]:
    quick = ctx.size.tables < 100
    per_side, n_users = (10, 10) if quick else (50, 20)
    base = ctx.work / "request-auto-approve"
    started = time.perf_counter()
    mesh, tables, users = _build(base, 2 * per_side + 2, n_users)
    try:
        log(
            f"{NAME}: mesh with {len(tables)} tables, {n_users} users built in "
            f"{time.perf_counter() - started:.1f} s (not timed)"
        )
        return _run(mesh, tables, users, per_side)
    finally:
        mesh.close()


def _run(mesh: Mesh, tables: list[str], users: list[str], per_side: int) -> list[dict[str, Any]]:
    warm, rest = tables[:2], tables[2:]
    sides = {"ours": _ours(mesh), "peer": _peer(mesh)}
    for step, table in zip(sides.values(), warm, strict=True):
        for user in users[:WARMUP]:
            step(user, table)
    # The same shuffle for both halves: pair i of ours and of the peer have the same shape.
    work = {
        "ours": _pairs(users, rest[0::2], random.Random(SEED)),
        "peer": _pairs(users, rest[1::2], random.Random(SEED)),
    }
    n = len(work["ours"])
    timings: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": []}
    order = ("ours", "peer")
    for i in range(n):
        for who in order if i % 2 == 0 else order[::-1]:
            timings[who].append(sides[who](*work[who][i]))
        if (i + 1) % max(1, n // 5) == 0:
            log(f"{NAME}: {i + 1}/{n} requests per side")
    ms = {
        who: (
            [1000 * (a + b) for a, b in rows],
            [1000 * a for a, _ in rows],
            [1000 * b for _, b in rows],
        )
        for who, rows in timings.items()
    }
    total, create, query = ms["ours"]
    p_total, p_create, p_query = ms["peer"]
    p50, p99 = percentile(total, 50), percentile(total, 99)
    log(
        f"{NAME}: request->usable p50 {p50:.1f} ms, p99 {p99:.1f} ms (peer p50 "
        f"{percentile(p_total, 50):.1f}, p99 {percentile(p_total, 99):.1f}); max "
        f"{max(total):.1f} ms; create p50 {median(create):.1f}, p99 {percentile(create, 99):.1f}; "
        f"query p50 {median(query):.1f}, p99 {percentile(query, 99):.1f}"
    )
    return [
        result(NAME, "p50_ms", p50, "ms", target="info", meets=True,
               peer=PEER, peer_value=percentile(p_total, 50)),
        result(NAME, "p99_ms", p99, "ms", target=f"<= {TARGET_MS:g}", meets=p99 <= TARGET_MS,
               peer=PEER, peer_value=percentile(p_total, 99)),
        result(NAME, "create_p50_ms", median(create), "ms", target="info", meets=True,
               peer="two mesh.access.grant calls", peer_value=median(p_create)),
        result(NAME, "query_p50_ms", median(query), "ms", target="info", meets=True,
               peer="the same query after the peer's grants", peer_value=median(p_query)),
    ]  # fmt: skip
