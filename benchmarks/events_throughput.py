"""Events per second through outbox -> rule match -> inbox, and publish-to-handled latency,
on the embedded SQLite store and on a real PostgreSQL server."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import delete, func, insert, select, update

from benchmarks._common import log, percentile, result, timed
from lakemesh import events
from lakemesh.events.bus import Bus
from lakemesh.mesh import Mesh
from lakemesh.store import tables as t
from lakemesh.typedef import now

NAME = "events_throughput"
TARGET_EPS = 5000.0
TARGET_P99_MS = 100.0
DOMAINS = tuple(f"d{i:02d}" for i in range(20))
DATABASE, TABLE = "quality", "checks"
BATCH = 1000  #: events per publish transaction, per route() call and per peer batch
RATE = 2000  #: events/s published in the latency phase
TXN = 20  #: events per publish transaction in the latency phase
IDLE_S = 0.001  #: the latency phase's router pauses this long when route() found nothing
PEER = "bare outbox insert+delete (plain SQLAlchemy, same database, batches of 1,000)"
VIOLATIONS = [
    {"kind": "quality", "rule": "not_null(customer_id)", "message": "12 null values"},
    {"kind": "freshness", "rule": "max_age 24h", "message": "last partition 31 h old"},
]
DESCRIPTION = """
On each store (the embedded SQLite file, WAL and synchronous=FULL, on the benchmark's
disk; and a PostgreSQL server started from the machine's binaries by tests/pgserver.py,
which runs with fsync=off and synchronous_commit=off in /dev/shm, so its commits cost no
disk flush): Mesh.init, 20 domains with one synced table each (its email column tagged
pii=true). Events are product.contract.violated events (events.ContractViolated on that
table, about 240 bytes of payload), published the way the product does, events.emit
inside mesh.store.write(), the domains taken round-robin. The only rule they match is the
built-in domain-activity rule, so each goes to exactly one internal target, the
publishing domain's inbox (admission is not consulted for a domain inbox; enrichment
looks the table up and adds its tags). Throughput: 1,000,000 events are published at
1,000 per transaction, by one process on SQLite (one writer at a time) and by two at once
on PostgreSQL (where one Python process is the bottleneck); the publish rate is reported
as info, not part of the value. Then they are
routed by mesh.bus.bus.route(1000) (one write transaction per call: select the oldest
1,000 unrouted rows, load the rules in force, enrich and match each event, insert the
inbox rows, mark the rows routed by compare-and-set) until the outbox is drained, or
until 90 s of routing time are spent (events_routed then says how many were routed, as a
missed target; the rest is marked routed by a plain UPDATE, untimed).
events_per_s = events routed / routing time; every call must route 1,000 events and the
inbox must end with one row per event. Peer, on the same database and connection pool:
the same number of rows of the same shape inserted into the outbox and deleted again, one
transaction per 1,000 (executemany INSERT ... RETURNING id, then DELETE by those ids), so
one commit per 1,000 rows as ours; its rows are built before its clock starts. Ours and
the peer alternate in chunks of 20,000 events (which goes first alternates); ratio = ours
/ peer events/s, so higher is better.
Latency: a thread of the benchmark calls route(1000) in a loop (pausing 1 ms when it
found nothing) while a separate process (like the API or CLI processes that publish in
production, and so not sharing the router's interpreter lock) publishes 2,000 events/s
for 10 s in transactions of 20 on a fixed schedule. published = when the publish
transaction's commit returned; handled = when the route() call that routed the event
returned (its transaction committed, so the inbox row is visible), both wall clock. Each
event is mapped to its route() call by position (one publisher and one router: routing
takes a prefix of the outbox in commit order), checked against each inbox row's
created_at, which must fall inside that call. Values: p50 and p99 of handled - published
in ms (target p99 <= 100 ms), the publish rate achieved, and as info p99 by the inbox
row's created_at (stamped before the routing transaction commits). On PostgreSQL the
latency phase starts after an untimed VACUUM ANALYZE of outbox and inbox (what autovacuum
would have done by then; without it every routing query first walks the dead index
entries the throughput phase left, hundreds of ms each). A --quick run uses
50,000 events, a 10 s routing budget and 3 s of latency.
"""


@dataclass(frozen=True)
class Plan:
    events: int
    chunk: int  #: route() calls (and peer batches) per interleaved chunk
    seconds: float  #: length of the latency phase
    budget_s: float  #: routing time (ours) after which the throughput phase stops
    #: Processes publishing the throughput phase's events, per store (SQLite has one
    #: writer at a time; on PostgreSQL one Python process is the bottleneck).
    publishers: dict[str, int] = field(default_factory=lambda: {"sqlite": 1, "postgresql": 2})


FULL_PLAN = Plan(1_000_000, 20, 10.0, 90.0)
QUICK_PLAN = Plan(50_000, 10, 3.0, 10.0)


def _table(domain: str) -> str:
    return f"{domain}.{DATABASE}.{TABLE}"


def _event(k: int) -> events.ContractViolated:
    domain = DOMAINS[k % len(DOMAINS)]
    return events.ContractViolated(
        domain=domain, actor=f"steward@{domain}", table=_table(domain), violations=VIOLATIONS
    )


def _publish(mesh: Mesh, first: int, count: int) -> None:
    with mesh.store.write() as conn:
        for k in range(first, first + count):
            events.emit(conn, _event(k))


def _publish_share(home: str, part: int, parts: int, total: int) -> None:
    """In a child process: every ``parts``-th transaction of BATCH events from ``part``."""
    mesh = Mesh.open(home)
    try:
        for first in range(part * BATCH, total, parts * BATCH):
            _publish(mesh, first, BATCH)
    finally:
        mesh.close()


def _publish_all(mesh: Mesh, total: int, processes: int) -> None:
    if processes == 1:
        for first in range(0, total, BATCH):
            _publish(mesh, first, BATCH)
        return
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.starmap(
            _publish_share, [(str(mesh.home), p, processes, total) for p in range(processes)]
        )


def _drain(bus: Bus) -> int:
    n = 0
    while (routed := bus.route(BATCH).events) > 0:
        n += routed
    return n


# --------------------------------------------------------------------------- throughput


def _route_chunk(bus: Bus, calls: int) -> None:
    for _ in range(calls):
        done = bus.route(BATCH)
        if done.events != BATCH:
            raise RuntimeError(f"route({BATCH}) routed {done}, expected {BATCH} events")


def _peer_rows(calls: int) -> list[list[dict[str, Any]]]:
    stamp = now()
    shaped = [_event(j) for j in range(len(DOMAINS))]
    return [
        [
            {
                "event_id": str(uuid.uuid4()),
                "type": e.type,
                "domain": e.domain,
                "subject": e.subject,
                "payload": e.model_dump_json(),
                "created_at": stamp,
            }
            for e in (shaped[j % len(shaped)] for j in range(BATCH))
        ]
        for _ in range(calls)
    ]


def _peer_chunk(mesh: Mesh, batches: list[list[dict[str, Any]]]) -> None:
    o = t.outbox
    engine = mesh.store.engine
    for rows in batches:
        with engine.begin() as conn:
            ids = conn.execute(insert(o).returning(o.c.id), rows).scalars().all()
            gone = conn.execute(delete(o).where(o.c.id.in_(ids))).rowcount
        if gone != BATCH:
            raise RuntimeError(f"peer deleted {gone} rows, expected {BATCH}")


def _throughput(mesh: Mesh, label: str, plan: Plan) -> dict[str, float]:
    bus = mesh.bus.bus
    per_chunk = plan.chunk * BATCH
    chunks = plan.events // per_chunk
    total = chunks * per_chunk

    seconds, _ = timed(partial(_publish_all, mesh, total, plan.publishers[label]))
    log(
        f"{NAME} [{label}]: {plan.publishers[label]} process(es) published {total:,} events "
        f"in {seconds:.1f} s (not in the value)"
    )
    spent = {"ours": 0.0, "peer": 0.0}
    routed = 0
    for i in range(chunks):
        batches = _peer_rows(plan.chunk)
        sides = (
            ("ours", partial(_route_chunk, bus, plan.chunk)),
            ("peer", partial(_peer_chunk, mesh, batches)),
        )
        for who, fn in sides if i % 2 == 0 else sides[::-1]:
            spent[who] += timed(fn)[0]
        routed += per_chunk
        if (i + 1) % max(1, chunks // 5) == 0 or spent["ours"] >= plan.budget_s:
            log(
                f"{NAME} [{label}]: {routed:,} events: ours {routed / spent['ours']:,.0f}/s, "
                f"peer {routed / spent['peer']:,.0f}/s"
            )
        if spent["ours"] >= plan.budget_s:
            break
    with mesh.store.read() as conn:
        inboxed = conn.execute(select(func.count()).select_from(t.inbox)).scalar_one()
    if inboxed != routed:
        raise RuntimeError(f"{inboxed} inbox rows for {routed} events routed")
    if routed < total:
        log(
            f"{NAME} [{label}]: routing budget of {plan.budget_s:g} s spent after {routed:,} "
            f"of {total:,} events; the rest is marked routed by a plain UPDATE (not timed)"
        )
        o = t.outbox
        with mesh.store.write() as conn:
            conn.execute(update(o).where(o.c.delivered_at.is_(None)).values(delivered_at=now()))
    elif bus.route(BATCH).events:
        raise RuntimeError("the outbox was not drained by routing every event published")
    return {
        "ours": routed / spent["ours"],
        "peer": routed / spent["peer"],
        "publish": total / seconds,
        "routed": float(routed),
        "published": float(total),
    }


# --------------------------------------------------------------------------- latency


@contextmanager
def _router(bus: Bus, marks: list[tuple[float, int]]) -> Iterator[None]:
    """A thread routing in a loop; each call that routed something appends (wall time when
    it returned, events routed)."""
    stop = threading.Event()
    failed: list[BaseException] = []

    def loop() -> None:
        try:
            while not stop.is_set():
                done = bus.route(BATCH)
                if done.events:
                    marks.append((time.time(), done.events))
                else:
                    time.sleep(IDLE_S)
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=loop, name="router", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if failed:
        raise failed[0]


def _steady_publisher(home: str, txns: int) -> tuple[float, list[float]]:
    """In a child process: publish ``txns`` transactions of TXN events at RATE events/s;
    returns when it started and when each transaction's commit returned (wall clock)."""
    mesh = Mesh.open(home)
    try:
        _publish(mesh, 0, 1)  # connect (and import) before the clock starts
        committed = []
        interval = TXN / RATE
        begin, begin_wall = time.perf_counter(), time.time()
        for n in range(txns):
            wait = begin + n * interval - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            _publish(mesh, n * TXN, TXN)
            committed.append(time.time())
        return begin_wall, committed
    finally:
        mesh.close()


def _latency(mesh: Mesh, label: str, plan: Plan) -> dict[str, float]:
    bus = mesh.bus.bus
    o, i = t.outbox, t.inbox
    _drain(bus)
    if mesh.store.dialect == "postgresql":
        # What autovacuum would have done by now: without it, the routing query wades
        # through the dead index entries of the million rows just routed.
        with mesh.store.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE outbox, inbox")
    with mesh.store.read() as conn:
        start_id = conn.execute(select(func.max(o.c.id))).scalar_one() or 0
    txns = int(RATE * plan.seconds / TXN)
    expected = txns * TXN + 1  # and the publisher's warm-up event
    marks: list[tuple[float, int]] = []
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool, _router(bus, marks):
        begin, committed = pool.apply(_steady_publisher, (str(mesh.home), txns))
        rate = txns * TXN / (committed[-1] - begin)
        deadline = time.monotonic() + 60
        while sum(m[1] for m in marks) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {sum(m[1] for m in marks)} events routed after 60 s")
            time.sleep(0.01)
    with mesh.store.read() as conn:
        stamps = [
            ts.timestamp()
            for ts in conn.execute(
                select(i.c.created_at)
                .join(o, o.c.event_id == i.c.event_id)
                .where(o.c.id > start_id)
                .order_by(o.c.id)
            ).scalars()
        ]
    if len(stamps) != expected:
        raise RuntimeError(f"{len(stamps)} inbox rows for {expected} published events")
    handled, stamped, misplaced = [], [], 0
    mark, upto, previous = 0, marks[0][1], 0.0
    # In outbox order, which is commit order (one publisher): the warm-up event, then
    # transaction after transaction of TXN events.
    for j, stamp in enumerate(stamps):
        while j >= upto:
            previous = marks[mark][0]
            mark += 1
            upto += marks[mark][1]
        done = marks[mark][0]
        if not previous - 0.002 <= stamp <= done + 0.002:
            misplaced += 1
        if j == 0:
            continue  # the warm-up event
        published = committed[(j - 1) // TXN]
        handled.append(1000 * (done - published))
        stamped.append(1000 * (stamp - published))
    if misplaced:
        raise RuntimeError(f"{misplaced} events not stamped within the route() call mapped")
    out = {
        "p50": percentile(handled, 50),
        "p99": percentile(handled, 99),
        "stamp_p99": percentile(stamped, 99),
        "rate": rate,
    }
    log(
        f"{NAME} [{label}]: {txns * TXN:,} events at {rate:,.0f}/s in {len(marks)} routing "
        f"calls: handled - published p50 {out['p50']:.1f} ms, p99 {out['p99']:.1f} ms, max "
        f"{max(handled):.1f} ms; by created_at p99 {out['stamp_p99']:.1f} ms"
    )
    return out


# --------------------------------------------------------------------------- per store


def _rows(label: str, tp: dict[str, float], lat: dict[str, float]) -> list[dict[str, Any]]:
    eps = tp["ours"]
    return [
        result(NAME, f"{label}_events_per_s", eps, "events/s", target=f">= {TARGET_EPS:,.0f}",
               meets=eps >= TARGET_EPS, peer=PEER, peer_value=tp["peer"]),
        result(NAME, f"{label}_events_routed", tp["routed"], "events",
               target=f"{tp['published']:,.0f} (drained)", meets=tp["routed"] >= tp["published"]),
        result(NAME, f"{label}_publish_events_per_s", tp["publish"], "events/s",
               target="info", meets=True),
        result(NAME, f"{label}_latency_p50_ms", lat["p50"], "ms", target="info", meets=True),
        result(NAME, f"{label}_latency_p99_ms", lat["p99"], "ms",
               target=f"<= {TARGET_P99_MS:g}", meets=lat["p99"] <= TARGET_P99_MS),
        result(NAME, f"{label}_latency_p99_by_created_at_ms", lat["stamp_p99"], "ms",
               target="info", meets=True),
        result(NAME, f"{label}_latency_publish_rate", lat["rate"], "events/s",
               target=f"~ {RATE:,}", meets=lat["rate"] >= 0.95 * RATE),
    ]  # fmt: skip


def _not_run(label: str, exc: BaseException) -> list[dict[str, Any]]:
    """The store's rows as failed targets, carrying why they could not be measured."""
    why = f"not run: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
    log(f"{NAME} [{label}]: {why}")
    return [
        result(NAME, f"{label}_{metric}", 0.0, unit, target=f"{target} ({why})", meets=False)
        for metric, unit, target in (
            ("events_per_s", "events/s", f">= {TARGET_EPS:,.0f}"),
            ("events_routed", "events", "drained"),
            ("publish_events_per_s", "events/s", "info"),
            ("latency_p50_ms", "ms", "info"),
            ("latency_p99_ms", "ms", f"<= {TARGET_P99_MS:g}"),
            ("latency_p99_by_created_at_ms", "ms", "info"),
            ("latency_publish_rate", "events/s", f"~ {RATE:,}"),
        )
    ]


def _domains(mesh: Mesh, base: Path) -> None:
    """20 domains, each with one table whose email column is tagged pii=true (so routing's
    enrichment finds the table and its tags)."""
    data = pa.table({"customer_id": [1, 2], "email": ["a@x", "b@x"], "status": ["ok", "late"]})
    for name in DOMAINS:
        path = base / name / DATABASE / TABLE / "x.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data, path)
        mesh.domains.create(name, str(base / name), create=True)
        mesh.domains.crawl(name)
    mesh.domains.sync()
    mesh.access.define_tag("pii", ["true", "false"])
    for name in DOMAINS:
        mesh.access.assign_tag(f"{_table(name)}.email", "pii=true")


def _measure(label: str, home: Path, db_url: str | None, plan: Plan) -> list[dict[str, Any]]:
    mesh = Mesh.init(home, db_url)
    try:
        _domains(mesh, home.parent)
        _drain(mesh.bus.bus)
        return _rows(label, _throughput(mesh, label, plan), _latency(mesh, label, plan))
    finally:
        mesh.close()


def run(ctx: Any) -> list[dict[str, Any]]:
    plan = QUICK_PLAN if ctx.size.tables < 100 else FULL_PLAN
    base = ctx.work / "events"
    rows = _measure("sqlite", base / "sqlite" / "home", None, plan)
    with ExitStack() as stack:
        try:
            from tests.pgserver import running_server

            server = stack.enter_context(running_server())
            url = server.url(server.create_database())
        except Exception as exc:  # no server: the rows say so, as failed targets
            rows += _not_run("postgresql", exc)
        else:
            rows += _measure("postgresql", base / "postgresql" / "home", url, plan)
    return rows
