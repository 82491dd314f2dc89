"""One gate, one session per operation, one executor for every state change.

CLI, Python API and HTTP API reach data and policy only through a ``Session``, opened by
the ``Gate`` of a mesh for one operation:

* the acting principal is resolved and the policy snapshot refreshed **once** (one
  cheap query when nothing changed), so a revoke is seen by the next operation and an
  operation never decides against two different policies;
* every decision, for reading data or for administering the mesh, is
  ``Authorizer.check`` over the action registry (``lakemesh.access.actions``);
* every state change is a typed command (``lakemesh.service.commands``) that
  ``execute`` runs as check -> preconditions -> apply -> policy change mark -> audit
  record -> outbox event carrying the actor, all in one transaction; a refusal is
  audited in a transaction of its own, with the decision's reasons, and re-raised, so
  nothing else changes;
* reads that list governance state are audited like searches (``audited``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection

from lakemesh import audit
from lakemesh.access.actions import Target
from lakemesh.access.authorizer import Authorizer, Decision
from lakemesh.access.principals import SYSTEM, User
from lakemesh.access.snapshot import Snapshot, changed
from lakemesh.errors import LakemeshError, NotFound, PermissionDenied
from lakemesh.events import emit
from lakemesh.events.alerts import raise_alert
from lakemesh.store import Store
from lakemesh.typedef import check_principal

if TYPE_CHECKING:
    from lakemesh.service.commands import Command

T = TypeVar("T")

#: The central node as an actor: not in the users table, so no rule lets it administer.
SYSTEM_USER = User(SYSTEM, "central", "member")

#: How often (at most) ``checkpoint_if_due`` looks at the audit chain, per process.
CHECKPOINT_CHECK_SECONDS = 1.0


class Gate:
    """A mesh's way in: its store, its policy (kept in memory and refreshed), sessions."""

    def __init__(self, store: Store, home: Path) -> None:
        self.store, self.home = store, home
        self._authz: Authorizer | None = None
        self._lock = threading.Lock()
        self._fresh_since = -1  #: ``monotonic_ns`` before the last refresh's read began
        self._checkpoint_checked = -math.inf

    def authz(self) -> Authorizer:
        """The authorizer, its snapshot brought up to the store's policy version.

        Everything committed before the call is seen: the snapshot is refreshed by a read
        that began after the call did. Calls that arrive while another thread refreshes
        wait for it, and share the next refresh instead of each making one (under load,
        one store read serves every operation that was waiting: their read would not
        have seen anything more that was committed before they were called)."""
        called = time.monotonic_ns()
        with self._lock:
            if self._authz is not None and self._fresh_since >= called:
                return self._authz  # refreshed by a read that began after this call
            began = time.monotonic_ns()
            with self.store.read() as conn:
                if self._authz is None:
                    self._authz = Authorizer(Snapshot.load(conn))
                else:
                    self._authz.snapshot.refresh(conn)
            self._fresh_since = began
            return self._authz

    def session(self, principal: str) -> Session:
        """A session for one operation by ``principal`` (unknown principals are refused)."""
        authz = self.authz()
        return Session(self, known(authz, principal), authz)

    def system_session(self) -> Session:
        """A session of the central node itself (``principals.SYSTEM``), for the reads it
        makes on its own behalf: classification samples and quality metrics (SPEC 2.9).
        It may read, never change anything; its reads are audited as its own."""
        return Session(self, SYSTEM_USER, self.authz())

    def checkpoint_if_due(self) -> None:
        """Sign the chain head when due. It runs after the change committed, so a failure
        here (a tampered chain, a missing key) must not turn that change into an error:
        it raises an alert for the operators instead, and ``audit verify`` will say why.

        Looked at most once per ``CHECKPOINT_CHECK_SECONDS`` per process: the look costs
        a store read, and it runs after every audited operation (every query)."""
        moment = time.monotonic()
        if moment - self._checkpoint_checked < CHECKPOINT_CHECK_SECONDS:
            return
        self._checkpoint_checked = moment
        try:
            audit.maybe_checkpoint(self.store, self.home)
        except LakemeshError as exc:
            with self.store.write() as conn:
                raise_alert(
                    conn, None, "error", "audit.checkpoint", f"audit checkpoint failed: {exc}"
                )


def known(authz: Authorizer, name: str) -> User:
    """``name`` as a principal of ``authz``'s snapshot."""
    check_principal(name)
    user = authz.snapshot.users.get(name)
    if user is None:
        raise NotFound(f"unknown principal {name!r}")
    return user


class Session:
    """One operation by one principal, against one refresh of the policy."""

    def __init__(self, gate: Gate, actor: User, authz: Authorizer) -> None:
        self.gate, self.actor, self.authz = gate, actor, authz

    @property
    def store(self) -> Store:
        return self.gate.store

    @property
    def snapshot(self) -> Snapshot:
        return self.authz.snapshot

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.gate.store.read() as conn:
            yield conn

    # ------------------------------------------------------------------ decisions

    def check(self, action: str, target: Target | str) -> Decision:
        """The decision for ``action`` on ``target`` (a table name for data actions)."""
        return self.authz.check(self.actor.name, action, target)

    def allowed(self, action: str, target: Target | str) -> bool:
        return self.check(action, target).allowed

    def require(self, action: str, target: Target, *, audit_as: str | None = None) -> Decision:
        """The decision, or ``PermissionDenied`` with its reason (audited as refused under
        ``audit_as`` when given: callers inside ``execute``/``audited`` leave that to
        them)."""
        decision = self.check(action, target)
        if not decision.allowed:
            exc = PermissionDenied(decision.missing or f"{self.actor.name} may not {action}")
            if audit_as is not None:
                self.refused(audit_as, str(target), exc, decision)
            raise exc
        return decision

    def decided(self, decision: Decision, operation: str) -> None:
        """Audit one data decision taken on behalf of the actor."""
        with self.store.write() as conn:
            audit.record(
                conn,
                principal=decision.principal,
                action=f"{operation}:{decision.action}",
                resource=decision.table,
                outcome="allowed" if decision.allowed else "denied",
                details={
                    "determined_by": list(decision.determined_by),
                    "missing": decision.missing,
                    "columns": list(decision.columns),
                },
            )

    # ------------------------------------------------------------------ changes

    def execute(self, command: Command[T]) -> T:
        """Run a typed command: check, preconditions, apply, mark the policy change, the
        audit record and the event (carrying the actor), in one transaction."""
        resource, decision = command.resource, None
        try:
            with self.store.write() as conn:
                target = command.target(self, conn)
                decision = self.check(command.action, target)
                if not decision.allowed:
                    raise PermissionDenied(decision.missing or "permission denied")
                command.precondition(self, conn, target)
                applied = command.apply(self, conn, target, decision)
                for entity, entity_id in applied.policy:
                    changed(conn, entity, entity_id)
                event = applied.event
                if event is not None:
                    event = event.model_copy(update={"actor": self.actor.name})
                payload = applied.details if applied.details is not None else _payload(event)
                audit.record(
                    conn,
                    principal=self.actor.name,
                    action=command.command,
                    resource=resource,
                    outcome="ok",
                    details=payload | {"determined_by": list(decision.determined_by)},
                )
                if event is not None:
                    emit(conn, event)
        except LakemeshError as exc:
            self.refused(command.command, resource, exc, decision)
            raise
        self.gate.checkpoint_if_due()
        return applied.result

    def audited(
        self,
        operation: str,
        resource: str | None,
        run: Callable[[Connection], T],
        details: Callable[[T], dict[str, Any]] | None = None,
        decision: Decision | None = None,
    ) -> T:
        """Run a read (a listing of governance state) and its audit record in one
        transaction; audit a refusal too."""
        try:
            with self.store.write() as conn:
                result = run(conn)
                extra = details(result) if details else {}
                if decision is not None:
                    extra = extra | {"determined_by": list(decision.determined_by)}
                audit.record(
                    conn,
                    principal=self.actor.name,
                    action=operation,
                    resource=resource,
                    outcome="ok",
                    details=extra,
                )
        except LakemeshError as exc:
            self.refused(operation, resource, exc, decision)
            raise
        self.gate.checkpoint_if_due()
        return result

    def refused(
        self,
        operation: str,
        resource: str | None,
        exc: BaseException,
        decision: Decision | None = None,
    ) -> None:
        details: dict[str, Any] = {"reason": str(exc)}
        if decision is not None and not decision.allowed:
            details["determined_by"] = list(decision.determined_by)
            details["action"] = decision.action
        with self.store.write() as conn:
            audit.record(
                conn,
                principal=self.actor.name,
                action=operation,
                resource=resource,
                outcome="refused",
                details=details,
            )


def _payload(event: Any) -> dict[str, Any]:
    """An event as its audit record's details: the same object, one schema."""
    if event is None:
        return {}
    dumped: dict[str, Any] = event.model_dump(mode="json", exclude={"actor"})
    return {"event": event.type} | dumped
