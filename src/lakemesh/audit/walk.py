"""The walk over the chain that verification and checkpointing share.

Rows are read once, in stored-seq order, and each is placed at the seq its hash was
computed for; a bounded heap re-sorts them into that original order, where gaps, links,
checkpoints and the head are checked. Every finding is a ``Problem``; the walk never
stops at the first, so one run shows the whole extent of a tampering.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Row, select

from lakemesh.audit.chain import _rows
from lakemesh.audit.records import GENESIS, _details, _digest, _tail, _ts, _unhex
from lakemesh.store.tables import audit_log
from lakemesh.typedef import Frozen

if TYPE_CHECKING:  # checkpoints.py runs a walk, so it imports this module
    from lakemesh.audit.checkpoints import Checkpoint

MAX_PROBLEMS = 1000  # a walk reports this many, and counts the rest
_WINDOW = 128  # how far (in seq) the walk looks for a record moved to another seq

ProblemKind = Literal["modified", "deleted", "reordered", "truncated", "bad_checkpoint"]


class Problem(Frozen):
    kind: ProblemKind
    seq: int | None  # None only for a checkpoint line too broken to name its seq
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at seq {self.seq}: {self.detail}"


@dataclass(order=True)
class _Item:
    orig: int  # the seq the record was written as (its hash says so), or its stored seq
    seq: int
    hash: str
    prev_hash: str
    intact: bool


class _Walk:
    """Rows arrive in stored-seq order. Each is placed at the seq its hash was computed for
    (searching nearby seqs if needed); a heap of ``_WINDOW`` rows re-sorts them into that
    original order, where gaps, links, checkpoints and the head are checked."""

    def __init__(self, checkpoints: list[Checkpoint], start: tuple[int, str] = (0, GENESIS)):
        self.checkpoints, self.cp_index, self.matched = checkpoints, 0, 0
        self.problems: dict[tuple[str, int | None], Problem] = {}
        self.omitted = self.checked = self.last_stored = 0
        self.heap: list[_Item] = []
        self.run: tuple[int, int, int] | None = None  # moved rows: first seq, last seq, shift
        self.shift = 0  # the last shift seen: renumbered runs are found at once
        self.last = _Item(start[0], start[0], start[1], "", True)  # previous, original order
        self.conn: Connection | None = None
        self.lookups = 100  # records a broken link may be looked up by hash
        self._checkpoints_upto(self.last)

    def walk(self, conn: Connection, head_seq: int, head_hash: str) -> None:
        self.conn = conn
        for row in _rows(conn, after=self.last.orig or None):
            self.add(row)
        self.finish(head_seq, head_hash)

    def report(self, kind: ProblemKind, seq: int | None, detail: str) -> None:
        if (kind, seq) in self.problems:
            return
        if len(self.problems) >= MAX_PROBLEMS:
            self.omitted += 1
        else:
            self.problems[(kind, seq)] = Problem(kind=kind, seq=seq, detail=detail)

    def add(self, row: Row[Any]) -> None:
        self.checked, self.last_stored = self.checked + 1, row.seq
        orig = self._place(row)
        if orig is None:
            self.report("modified", row.seq, "its contents do not match its hash")
        self._track_run(row.seq, 0 if orig is None else orig - row.seq)
        intact = orig is not None
        item = _Item(row.seq if orig is None else orig, row.seq, row.hash, row.prev_hash, intact)
        heapq.heappush(self.heap, item)
        while self.heap and self.heap[0].orig < row.seq - _WINDOW:
            self._in_order(heapq.heappop(self.heap))

    def _place(self, row: Row[Any]) -> int | None:
        """The seq this row's hash was computed for, within ``_WINDOW`` of where it is."""
        details, prev = _details(row.details), _unhex(row.prev_hash)
        if details is None or prev is None:
            return None
        tail = _tail(
            row.ts, row.principal, row.action, row.resource, row.outcome, details, row.prev_hash
        )
        if _digest(prev, row.seq, tail) == row.hash:
            return int(row.seq)
        nearby = [d for n in range(1, _WINDOW + 1) for d in (n, -n)]
        searching = len(self.problems) < MAX_PROBLEMS  # past that, only the last shift
        for shift in [self.shift, *nearby] if searching else [self.shift]:
            seq = row.seq + shift
            if shift and seq >= 1 and _digest(prev, seq, tail) == row.hash:
                self.shift = shift
                return int(seq)
        return None

    def _track_run(self, seq: int, shift: int) -> None:
        if self.run and shift == self.run[2] and seq == self.run[1] + 1:
            self.run = (self.run[0], seq, shift)
            return
        self._flush_run()
        self.run = (seq, seq, shift) if shift else None

    def _flush_run(self) -> None:
        if self.run:
            first, last, moved = self.run
            where = f"seq {first}" if first == last else f"seq {first}-{last}"
            was = f"seq {first + moved}" if first == last else f"{first + moved}-{last + moved}"
            self.report("reordered", first, f"the record(s) at {where} were written as {was}")
        self.run = None

    def _in_order(self, item: _Item) -> None:
        last = self.last
        if item.orig <= last.orig:
            return  # a copy of a record already seen; its move is reported
        if item.orig > last.orig + 1:
            self._deleted(last.orig + 1, item.orig - 1)
        elif item.intact and last.intact and item.prev_hash != last.hash:
            self._broken_link(item)
        self._checkpoints_upto(item)
        self.last = item

    def _broken_link(self, item: _Item) -> None:
        assert self.conn is not None
        linked = None
        if self.lookups > 0:  # an unindexed scan: a bounded number of them
            self.lookups -= 1
            found = select(audit_log.c.seq).where(audit_log.c.hash == item.prev_hash).limit(1)
            linked = self.conn.execute(found).scalar()
        if linked is not None:
            detail = f"it links to record {linked}, not to record {item.orig - 1}"
            self.report("reordered", item.orig, detail)
        elif item.orig == 1:
            self.report("modified", 1, "it does not link to the start of the chain")
        else:
            detail = f"record {item.orig} no longer links to it: rewritten with a new hash"
            self.report("modified", item.orig - 1, detail)

    def _checkpoints_upto(self, item: _Item) -> None:
        while self.cp_index < len(self.checkpoints):
            cp = self.checkpoints[self.cp_index]
            if cp.seq > item.orig:
                return
            self.cp_index += 1
            if cp.seq < item.orig:
                continue  # its record is missing, and reported as deleted
            if cp.hash == item.hash:
                self.matched = cp.seq
            else:
                detail = (
                    f"it differs from the checkpoint signed {_ts(cp.ts)}: "
                    f"records after seq {self.matched} were rewritten"
                )
                self.report("modified", cp.seq, detail)

    def _deleted(self, first: int, last: int) -> None:
        shown = min(last - first + 1, MAX_PROBLEMS)
        for seq in range(first, first + shown):
            self.report("deleted", seq, f"record {seq} is missing")
        self.omitted += last - first + 1 - shown

    def finish(self, head_seq: int, head_hash: str) -> None:
        self._flush_run()
        while self.heap:
            self._in_order(heapq.heappop(self.heap))
        last = self.last  # the record with the highest original seq
        if head_seq < min(last.orig, last.seq):
            detail = f"records after seq {head_seq} lie beyond the chain head: inserted?"
            self.report("modified", head_seq + 1, detail)
        elif head_seq <= max(last.orig, last.seq) and (
            head_hash != last.hash or head_seq not in (last.orig, last.seq)
        ):
            self.report("modified", last.orig, "it does not match the chain head")
        signed = max((cp.seq for cp in self.checkpoints[self.cp_index :]), default=0)
        self.cp_index = len(self.checkpoints)
        end = max(head_seq if head_seq > max(last.orig, last.seq) else 0, signed)
        if end > last.orig:
            says = "a signed checkpoint" if signed == end else "the chain head"
            detail = f"records {last.orig + 1}-{end} were removed from the end ({says} has {end})"
            self.report("truncated", last.orig + 1, detail)
