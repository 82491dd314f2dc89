"""Verification: the whole chain walked once and checked against every signed checkpoint.

What it can and cannot detect is listed in the package docstring; the walk itself is in
``walk.py``, shared with ``checkpoint``, which refuses to sign a chain that fails it.
"""

from __future__ import annotations

from pathlib import Path

from lakemesh.audit.chain import _head
from lakemesh.audit.checkpoints import _read_checkpoints
from lakemesh.audit.walk import Problem, _Walk
from lakemesh.store import Store
from lakemesh.typedef import Frozen


class VerifyReport(Frozen):
    records_checked: int
    last_seq: int
    checkpoints_checked: int
    problems: list[Problem]
    omitted: int = 0  # problems found beyond MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return not self.problems and not self.omitted


def verify(store: Store, home: Path) -> VerifyReport:
    """Walk the whole chain once, in seq order, and check it against every checkpoint."""
    # Checkpoints first: any checkpoint in the file then describes a committed state
    # that the database snapshot taken afterwards must contain.
    checkpoints, bad = _read_checkpoints(home)
    walk = _Walk(sorted(checkpoints, key=lambda c: c.seq))
    for problem in bad:
        walk.report(problem.kind, problem.seq, problem.detail)
    with store.read() as conn:
        walk.walk(conn, *_head(conn))
    return VerifyReport(
        records_checked=walk.checked,
        last_seq=walk.last_stored,
        checkpoints_checked=walk.cp_index,
        problems=sorted(walk.problems.values(), key=lambda p: p.seq or 0),
        omitted=walk.omitted,
    )
