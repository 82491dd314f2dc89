"""Users and their tokens, tags, grants, masks and ``access explain`` (``lakemesh user
...``, ``tag ...``, ``grant``, ``revoke``, ``mask``, ``access explain``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator

from lakemesh.access.principals import UserInfo
from lakemesh.access.tags import TagInfo
from lakemesh.api.routes._common import Body, Caller, MeshDep, Name, plain
from lakemesh.errors import InvalidInput

router = APIRouter(tags=["access"])

Role = Literal["admin", "steward", "member"]
DataAction = Literal["DESCRIBE", "SELECT", "ALTER", "DROP", "UNMASK"]


# --------------------------------------------------------------------------- users


class UserCreate(Body):
    name: str = Field(..., min_length=3, max_length=200, description="NAME@DOMAIN")
    role: Role = "member"
    email: str | None = Field(None, min_length=3, max_length=320)


class UserToken(BaseModel):
    """A user's API token: in this response only, stored as a hash."""

    name: str
    domain: str | None = None
    role: str | None = None
    token: str


class EmailBody(Body):
    email: str | None = Field(None, min_length=3, max_length=320, description="None: no mail")


@router.get("/users", summary="Users the caller may see")
def users(mesh: MeshDep, who: Caller) -> list[UserInfo]:
    return mesh.access.users(as_=who)


@router.post("/users", status_code=201, summary="Create a user; its token is shown once")
def create_user(body: UserCreate, mesh: MeshDep, who: Caller) -> UserToken:
    user, token = mesh.access.create_user(body.name, body.role, email=body.email, as_=who)
    return UserToken(name=user.name, domain=user.domain, role=user.role, token=token)


@router.post("/users/{name}/email", summary="Set (or clear) where a user's mail goes")
def set_email(name: Name, body: EmailBody, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.access.set_email(name, body.email, as_=who))  # type: ignore[no-any-return]


@router.post("/users/{name}/token", summary="Issue a new token (the old one stops working)")
def new_token(name: Name, mesh: MeshDep, who: Caller) -> UserToken:
    return UserToken(name=name, token=mesh.access.new_token(name, as_=who))


# --------------------------------------------------------------------------- tags


class TagDefine(Body):
    key: str = Field(..., min_length=1, max_length=200)
    values: list[Name] = Field(..., min_length=1, max_length=1000)


class TagAssign(Body):
    resource: Name = Field(..., description="A database, table or column")
    assignment: str = Field(..., min_length=3, max_length=800, description="KEY=VALUE")


@router.get("/tags", summary="Tag keys and their allowed values")
def tags(mesh: MeshDep, who: Caller) -> list[TagInfo]:
    return mesh.access.tags(as_=who)


@router.post("/tags", summary="Define a tag key and its values (mesh admin)")
def define_tag(body: TagDefine, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    return plain(mesh.access.define_tag(body.key, body.values, as_=who))  # type: ignore[no-any-return]


@router.post("/tags/assign", summary="Tag a database, table or column (its stewards)")
def assign_tag(body: TagAssign, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    done = mesh.access.assign_tag(body.resource, body.assignment, as_=who)
    return plain(done)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- grants


class GrantCreate(Body):
    """A grant on a table or database (``on``) or a tag expression (``tags``)."""

    actions: list[DataAction | Literal["ALL"]] = Field(..., min_length=1, max_length=6)
    to: Name = Field(..., description="user@domain, a domain, or domain:role")
    on: str | None = Field(None, min_length=3, max_length=400, description="d.db or d.db.table")
    tags: str | None = Field(None, min_length=3, max_length=2000, description="k=v1|v2 AND k2=v")
    columns: list[Name] | None = Field(None, max_length=2000)
    exclude_columns: list[Name] | None = Field(None, max_length=2000)
    row_filter: str | None = Field(None, min_length=1, max_length=10_000)
    grantable: bool = False
    expires: str | None = Field(None, min_length=1, max_length=60, description="30d or a time")

    @model_validator(mode="after")
    def _one_target(self) -> GrantCreate:
        if (self.on is None) == (self.tags is None):
            raise ValueError("give exactly one of 'on' and 'tags'")
        return self


@router.get("/grants", summary="Grants the caller made, may revoke, or holds")
def grants(
    mesh: MeshDep,
    who: Caller,
    on: str | None = Query(None, max_length=400, description="A table or database"),
    to: str | None = Query(None, max_length=400, description="A principal"),
    all: bool = Query(False, description="Include revoked and expired grants"),
) -> list[dict[str, Any]]:
    found = mesh.access.grants(on=on, to=to, include_inactive=all, as_=who)
    return plain(found)  # type: ignore[no-any-return]


@router.post("/grants", status_code=201, summary="Grant actions to a principal")
def grant(body: GrantCreate, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    from lakemesh.access.grants import GrantRequest, parse_actions

    table = database = None
    if body.on is not None:
        depth = body.on.count(".")
        if depth not in (1, 2):
            raise InvalidInput(f"invalid on {body.on!r}: expected domain.db or domain.db.table")
        table, database = (body.on, None) if depth == 2 else (None, body.on)
    request = GrantRequest(
        actions=parse_actions(",".join(body.actions)),
        principal=body.to,
        table=table,
        database=database,
        tags=body.tags,
        columns=body.columns,
        exclude_columns=body.exclude_columns,
        row_filter=body.row_filter,
        grantable=body.grantable,
        expires=body.expires,
    )
    return plain(mesh.access.grant(request, as_=who))  # type: ignore[no-any-return]


class Revoked(BaseModel):
    #: The grant and the grants delegated from it.
    revoked: list[str]


@router.delete("/grants/{grant_id}", summary="Revoke a grant and what was delegated from it")
def revoke(grant_id: Name, mesh: MeshDep, who: Caller) -> Revoked:
    return Revoked(revoked=mesh.access.revoke(grant_id, as_=who))


# --------------------------------------------------------------------------- masks, explain


class MaskBody(Body):
    """Mask one column, or every column with a tag, for principals without UNMASK."""

    column: str | None = Field(None, min_length=1, max_length=400, description="d.db.t.col")
    tag: str | None = Field(None, min_length=3, max_length=800, description="KEY=VALUE")
    method: str = Field(
        ...,
        min_length=1,
        max_length=4000,
        description="hash | redact | null | last4 | a SQL expression over value | none",
    )

    @model_validator(mode="after")
    def _one_target(self) -> MaskBody:
        if (self.column is None) == (self.tag is None):
            raise ValueError("give exactly one of 'column' and 'tag'")
        return self


@router.post("/masks", summary="Set (or remove) a mask")
def mask(body: MaskBody, mesh: MeshDep, who: Caller) -> dict[str, Any]:
    rule = mesh.access.mask(column=body.column, tag=body.tag, spec=body.method, as_=who)
    return plain(rule)  # type: ignore[no-any-return]


@router.get("/tables/{name}/explain", summary="Why the caller can or cannot act on a table")
def explain(
    name: Name,
    mesh: MeshDep,
    who: Caller,
    action: DataAction = Query("SELECT"),  # noqa: B008
) -> dict[str, Any]:
    return plain(mesh.access.explain(name, as_=who, action=action))  # type: ignore[no-any-return]
