"""Typed commands: every state change of the mesh as a small frozen model.

A command says what it changes (its fields), which registered action decides it and on
what (``action``, ``target``), what must still hold when it runs (``precondition``,
e.g. a compare-and-set on a version), and how it changes the store (``apply``), which
returns the result for the caller together with the event that describes the change and
the policy entities it touched. ``Session.execute`` runs them all the same way, in one
transaction: check -> precondition -> apply -> policy change mark -> audit record ->
outbox event carrying the actor. The event is the audit record's payload too, so the log
and the event stream describe each change with one schema.

``command`` is the discriminator (and the audit log's action name), so a request body
naming a command can be parsed into the right model (``parse_command``).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, get_args

from pydantic import Field, TypeAdapter, ValidationError

from lakemesh.errors import InvalidInput, first_line
from lakemesh.service.commands.base import Applied, Command
from lakemesh.service.commands.bus import AddTarget, Redrive, RemoveTarget
from lakemesh.service.commands.governance import (
    AcknowledgeAlert,
    AssignTag,
    CreateDomain,
    CreateGrant,
    CreateUser,
    DefineTag,
    IssueToken,
    RevokeGrant,
    SetEmail,
    SetMask,
)
from lakemesh.service.commands.requests import (
    ApproveRequest,
    CreateRequest,
    RejectRequest,
    RevokeRequest,
)
from lakemesh.service.commands.stewardship import (
    AcceptClassification,
    DefineTerm,
    IngestLineage,
    LinkTerm,
    RecordClassification,
    RecordQuality,
    RegisterProduct,
    RejectClassification,
)

__all__ = [
    "COMMANDS",
    "AcceptClassification",
    "AcknowledgeAlert",
    "AddTarget",
    "AnyCommand",
    "Applied",
    "ApproveRequest",
    "AssignTag",
    "Command",
    "CreateDomain",
    "CreateGrant",
    "CreateRequest",
    "CreateUser",
    "DefineTag",
    "DefineTerm",
    "IngestLineage",
    "IssueToken",
    "LinkTerm",
    "RecordClassification",
    "RecordQuality",
    "Redrive",
    "RegisterProduct",
    "RejectClassification",
    "RejectRequest",
    "RemoveTarget",
    "RevokeGrant",
    "RevokeRequest",
    "SetEmail",
    "SetMask",
    "parse_command",
]

AnyCommand = Annotated[
    CreateDomain
    | AcknowledgeAlert
    | CreateUser
    | IssueToken
    | SetEmail
    | DefineTag
    | AssignTag
    | CreateGrant
    | RevokeGrant
    | SetMask
    | RecordClassification
    | AcceptClassification
    | RejectClassification
    | RegisterProduct
    | RecordQuality
    | IngestLineage
    | DefineTerm
    | LinkTerm
    | CreateRequest
    | ApproveRequest
    | RejectRequest
    | RevokeRequest
    | AddTarget
    | RemoveTarget
    | Redrive,
    Field(discriminator="command"),
]
#: Every command, in the order above.
COMMANDS: tuple[type[Command[Any]], ...] = get_args(get_args(AnyCommand)[0])


@functools.cache
def _adapter() -> TypeAdapter[Any]:
    """Built on first use: building it validates every command's schema, which every
    CLI process would otherwise pay at import."""
    return TypeAdapter(AnyCommand)


def parse_command(data: dict[str, Any]) -> Command[Any]:
    """A command from its JSON form (``{"command": "grant.revoke", ...}``)."""
    try:
        return _adapter().validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "command"
        raise InvalidInput(f"invalid command: {where}: {first_line(problem['msg'])}") from exc
