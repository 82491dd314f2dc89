"""The lineage graph: which job read which datasets and wrote which, from OpenLineage run
events (``products.lineage`` parses them), kept as edges between central tables (or
datasets outside the mesh, by ``namespace/name``) and walked both ways for ``lineage
show``. Ingesting the same event twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from lakemesh.products.lineage import Dataset, RunEvent
from lakemesh.store import tables as t
from lakemesh.typedef import now

#: Events whose datasets are lineage: a failed or aborted run wrote nothing to trust.
_LINEAGE_TYPES = frozenset({"START", "RUNNING", "COMPLETE", "OTHER"})
#: How far ``lineage show`` walks by default.
DEPTH = 5


@dataclass
class Ingested:
    runs: int = 0
    duplicates: int = 0
    edges: int = 0
    tables: tuple[str, ...] = ()


def event_hash(event: RunEvent) -> str:
    body = json.dumps(
        [
            event.run_id,
            event.event_type,
            event.event_time.isoformat(),
            event.job_namespace,
            event.job_name,
            [d.key for d in event.inputs],
            [d.key for d in event.outputs],
        ]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _hash(*parts: str) -> str:
    """A node's or an edge's key: names may be longer than an index entry may be."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def ingest(
    conn: Connection,
    events: Sequence[RunEvent],
    node: Callable[[Dataset], str],
    actor: str,
) -> Ingested:
    """Store ``events`` and their edges; ``node`` names a dataset in the graph (a central
    table name, or ``namespace/name``)."""
    out = Ingested()
    tables: set[str] = set()
    stamp = now()
    runs, edges = t.lineage_runs, t.lineage_edges
    for event in events:
        digest = event.digest or event_hash(event)
        if conn.execute(select(runs.c.id).where(runs.c.event_hash == digest)).first():
            out.duplicates += 1
            continue
        job = f"{event.job_namespace}/{event.job_name}"
        sources = [node(d) for d in event.inputs]
        targets = [node(d) for d in event.outputs]
        conn.execute(
            insert(runs).values(
                event_hash=digest,
                run_id=event.run_id,
                event_type=event.event_type,
                event_time=event.event_time,
                job=job,
                producer=event.producer,
                inputs=json.dumps(sources),
                outputs=json.dumps(targets),
                ingested_by=actor,
                ingested_at=stamp,
            )
        )
        out.runs += 1
        tables.update(n for n in (*sources, *targets) if "/" not in n)
        if event.event_type not in _LINEAGE_TYPES:
            continue
        for source in sources:
            for target in targets:
                edge = _hash(source, target, job)
                found = conn.execute(select(edges.c.id).where(edges.c.edge_hash == edge)).scalar()
                if found is None:
                    conn.execute(
                        insert(edges).values(
                            edge_hash=edge,
                            source=source,
                            source_hash=_hash(source),
                            target=target,
                            target_hash=_hash(target),
                            job=job,
                            run_id=event.run_id,
                            first_seen=event.event_time,
                            last_seen=event.event_time,
                        )
                    )
                    out.edges += 1
                else:
                    conn.execute(
                        update(edges)
                        .where(edges.c.id == found)
                        .values(last_seen=event.event_time, run_id=event.run_id)
                    )
    out.tables = tuple(sorted(tables))
    return out


def walk(conn: Connection, start: str, direction: str, depth: int = DEPTH) -> list[dict[str, Any]]:
    """Edges reachable from ``start`` upstream (towards sources) or downstream, breadth
    first, at most ``depth`` hops; each edge once."""
    edges = t.lineage_edges
    near = edges.c.target_hash if direction == "upstream" else edges.c.source_hash
    seen_nodes, frontier = {start}, [start]
    out: list[dict[str, Any]] = []
    for hop in range(1, depth + 1):
        if not frontier:
            break
        rows = conn.execute(
            select(edges)
            .where(near.in_([_hash(n) for n in frontier]))
            .order_by(edges.c.source, edges.c.target)
        ).all()
        frontier = []
        for r in rows:
            out.append(
                {
                    "source": r.source,
                    "target": r.target,
                    "job": r.job,
                    "hops": hop,
                    "last_seen": r.last_seen.isoformat(),
                }
            )
            nxt = r.source if direction == "upstream" else r.target
            if nxt not in seen_nodes:
                seen_nodes.add(nxt)
                frontier.append(nxt)
    return out
