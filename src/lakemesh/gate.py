"""The gate every path goes through: who is acting, what the policy says, what is audited.

CLI, Python API and (later) HTTP API and UI all reach data and policy through ``Gate``:

* ``actor(name)`` resolves the acting principal (unknown principals are refused);
* ``authz()`` returns the authorizer over a policy snapshot refreshed from the store
  (one cheap query when nothing changed), so a revoke is seen by the next operation;
* ``mutate(...)`` runs a change in one transaction together with its audit record; a
  refusal is audited in a transaction of its own and re-raised, so nothing else changes;
* ``decided(...)`` audits a decision made on someone's behalf.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection

from lakemesh import audit
from lakemesh.alerts import raise_alert
from lakemesh.authz import Authorizer, Decision
from lakemesh.errors import LakemeshError, NotFound
from lakemesh.policy import Snapshot
from lakemesh.principals import User
from lakemesh.store import Store
from lakemesh.typedef import check_principal

T = TypeVar("T")

#: How often (at most) ``checkpoint_if_due`` looks at the audit chain, per process.
CHECKPOINT_CHECK_SECONDS = 1.0


class Gate:
    def __init__(self, store: Store, home: Path) -> None:
        self.store, self.home = store, home
        self._authz: Authorizer | None = None
        self._lock = threading.Lock()
        self._checkpoint_checked = -math.inf

    # ------------------------------------------------------------------ policy

    def authz(self) -> Authorizer:
        """The authorizer, its snapshot brought up to the store's policy version."""
        with self._lock:
            with self.store.read() as conn:
                if self._authz is None:
                    self._authz = Authorizer(Snapshot.load(conn))
                else:
                    self._authz.snapshot.refresh(conn)
            return self._authz

    def actor(self, name: str) -> User:
        return self.session(name)[0]

    @staticmethod
    def known(authz: Authorizer, name: str) -> User:
        """``name`` as a principal of ``authz``'s snapshot."""
        check_principal(name)
        user = authz.snapshot.users.get(name)
        if user is None:
            raise NotFound(f"unknown principal {name!r}")
        return user

    def session(self, name: str) -> tuple[User, Authorizer]:
        """The principal and the authorizer, from one policy refresh."""
        authz = self.authz()
        return self.known(authz, name), authz

    # ------------------------------------------------------------------ audit

    def mutate(
        self,
        actor: str,
        action: str,
        resource: str | None,
        change: Callable[[Connection], T],
        details: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        """Run ``change`` and its audit record in one transaction; audit refusals too."""
        try:
            with self.store.write() as conn:
                result = change(conn)
                audit.record(
                    conn,
                    principal=actor,
                    action=action,
                    resource=resource,
                    outcome="ok",
                    details=details(result) if details else {},
                )
        except LakemeshError as exc:
            self.refused(actor, action, resource, exc)
            raise
        self.checkpoint_if_due()
        return result

    def refused(self, actor: str, action: str, resource: str | None, exc: BaseException) -> None:
        with self.store.write() as conn:
            audit.record(
                conn,
                principal=actor,
                action=action,
                resource=resource,
                outcome="refused",
                details={"reason": str(exc)},
            )

    def decided(self, decision: Decision, operation: str) -> None:
        """Audit one decision taken on behalf of a principal."""
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
