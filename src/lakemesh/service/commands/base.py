"""The command base: what every typed command declares, and what applying one returns
(see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from sqlalchemy import Connection

from lakemesh import events
from lakemesh.access.actions import MESH, Target
from lakemesh.access.authorizer import Decision
from lakemesh.typedef import Frozen

if TYPE_CHECKING:
    from lakemesh.service.session import Session

R = TypeVar("R")


@dataclass(frozen=True)
class Applied(Generic[R]):
    """What a command did: its result, its event (also its audit record's details), the
    policy entities it changed; ``details`` only for a command that changed nothing and
    so has no event (the grant that was already held)."""

    result: R
    event: events.Event | None = None
    policy: tuple[tuple[str, str], ...] = ()
    details: dict[str, Any] | None = None


class Command(Frozen, Generic[R]):
    command: str
    #: The registered action (``lakemesh.access.actions``) that decides it.
    action: ClassVar[str]

    @property
    def resource(self) -> str | None:
        """The audit record's resource (also for a refusal before a target is known)."""
        return None

    def target(self, session: Session, conn: Connection) -> Target:
        return MESH

    def precondition(self, session: Session, conn: Connection, target: Target) -> None:
        """Raise ``Conflict`` when what the command assumes no longer holds."""

    def apply(
        self, session: Session, conn: Connection, target: Target, decision: Decision
    ) -> Applied[R]:
        raise NotImplementedError
