"""What the route modules share: the caller dependency, the mesh, strict bodies."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, StringConstraints

from lakemesh.api.auth import caller, server
from lakemesh.mesh import Mesh

#: The authenticated principal's name (bearer token; rate limited).
Caller = Annotated[str, Depends(caller)]


def mesh_of(request: Request) -> Mesh:
    return server(request).mesh


MeshDep = Annotated[Mesh, Depends(mesh_of)]

#: A name as a client types it (a table, column, principal, tag...): bounded, never empty.
Name = Annotated[str, StringConstraints(min_length=1, max_length=400)]
#: A comment or reason kept in a history: bounded.
Text = Annotated[str, StringConstraints(max_length=4000)]


class Body(BaseModel):
    """A request body: unknown fields are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", str_max_length=100_000)


def plain(value: Any) -> Any:
    """A result as JSON-ready data (pydantic models, dataclasses, datetimes...)."""
    if isinstance(value, BaseModel):
        return json.loads(value.model_dump_json())
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "as_dict"):
        return plain(value.as_dict())
    if hasattr(value, "_asdict"):
        return plain(value._asdict())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
