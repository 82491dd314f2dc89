"""Governance commands: users, tags, grants, masks, access explain, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from lakemesh.cli._common import As, Home, Json, app, out, print_json
from lakemesh.errors import InvalidInput, LakemeshError
from lakemesh.grants import GrantRequest, parse_actions
from lakemesh.mesh import Mesh
from lakemesh.principals import MESH_ADMIN

user_app = typer.Typer(no_args_is_help=True, help="Users and their API tokens.")
tag_app = typer.Typer(no_args_is_help=True, help="Governed tags (LF-tags).")
access_app = typer.Typer(no_args_is_help=True, help="Why a principal can or cannot read.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(user_app, name="user")
app.add_typer(tag_app, name="tag")
app.add_typer(access_app, name="access")
app.add_typer(audit_app, name="audit")

Columns = Annotated[str | None, typer.Option(help="Comma-separated column names.")]


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


# --------------------------------------------------------------------------- users


@user_app.command("create")
def user_create(
    name: str,
    role: Annotated[str, typer.Option(help="admin | steward | member")] = "member",
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Create a user; its API token is printed once and stored only as a hash."""
    with Mesh.open(home) as mesh:
        user, token = mesh.create_user(name, role, as_=as_)
    if json_:
        print_json({"name": user.name, "domain": user.domain, "role": user.role, "token": token})
    else:
        out.print(
            f"created {user.name} ({user.role}); API token (shown once): {token}", markup=False
        )


# --------------------------------------------------------------------------- tags


@tag_app.command("define")
def tag_define(
    key: str,
    values: Annotated[str, typer.Option("--values", help="Allowed values, comma-separated.")],
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Define a tag key and its allowed values (mesh admin)."""
    with Mesh.open(home) as mesh:
        tag = mesh.define_tag(key, _split(values) or [], as_=as_)
    if json_:
        print_json(tag)
    else:
        verb = "defined" if tag["created"] else "updated"
        out.print(f"{verb} tag {tag['key']} = {'|'.join(tag['values'])}", markup=False)


@tag_app.command("assign")
def tag_assign(
    resource: str,
    assignment: str,
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Tag a database, table or column (KEY=VALUE), as a steward of its domain."""
    with Mesh.open(home) as mesh:
        done = mesh.assign_tag(resource, assignment, as_=as_)
    if json_:
        print_json(done)
    else:
        was = f" (was {done['previous']})" if done["previous"] else ""
        out.print(f"tagged {done['resource']} {done['key']}={done['value']}{was}", markup=False)


# --------------------------------------------------------------------------- grants


@app.command()
def grant(
    actions: Annotated[str, typer.Argument(help="DESCRIBE,SELECT,ALTER,DROP,UNMASK or ALL")],
    to: Annotated[str, typer.Option("--to", help="user@domain, a domain, or domain:role")],
    on: Annotated[
        str | None, typer.Option("--on", help="TABLE (d.db.t) or DATABASE (d.db)")
    ] = None,
    tags: Annotated[
        str | None, typer.Option("--tags", help="Tag expression k=v1|v2 AND k2=v")
    ] = None,
    columns: Columns = None,
    exclude_columns: Columns = None,
    row_filter: Annotated[
        str | None, typer.Option(help="Boolean SQL over the table's columns.")
    ] = None,
    grantable: Annotated[bool, typer.Option(help="The grantee may delegate it.")] = False,
    expires: Annotated[str | None, typer.Option(help="30d, 12h or a timestamp.")] = None,
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Grant actions on a table, a database or a tag expression."""
    table = database = None
    if on is not None:
        depth = on.count(".")
        if depth not in (1, 2):
            raise InvalidInput(f"invalid --on {on!r}: expected domain.db or domain.db.table")
        table, database = (on, None) if depth == 2 else (None, on)
    request = GrantRequest(
        actions=parse_actions(actions),
        principal=to,
        table=table,
        database=database,
        tags=tags,
        columns=_split(columns),
        exclude_columns=_split(exclude_columns),
        row_filter=row_filter,
        grantable=grantable,
        expires=expires,
    )
    with Mesh.open(home) as mesh:
        g = mesh.grant(request, as_=as_)
    if json_:
        print_json(g)
        return
    extra = [
        f"columns {','.join(g['columns'])}" if g["columns"] else "",
        f"row filter {g['row_filter']}" if g["row_filter"] else "",
        f"expires {g['expires_at']}" if g["expires_at"] else "",
        "grantable" if g["grantable"] else "",
    ]
    detail = "; ".join(x for x in extra if x)
    out.print(
        f"granted {','.join(g['actions'])} on {g['resource']} to {g['principal']} "
        f"(grant {g['id']}{'; ' + detail if detail else ''})",
        markup=False,
    )


@app.command()
def revoke(grant_id: str, as_: As = MESH_ADMIN, home: Home = None, json_: Json = False) -> None:
    """Revoke a grant (and the grants delegated from it)."""
    with Mesh.open(home) as mesh:
        revoked = mesh.revoke(grant_id, as_=as_)
    if json_:
        print_json({"revoked": revoked})
    else:
        more = f" and {len(revoked) - 1} delegated grant(s)" if len(revoked) > 1 else ""
        out.print(f"revoked {grant_id}{more}", markup=False)


@app.command()
def mask(
    with_: Annotated[str, typer.Option("--with", help="hash | redact | null | last4 | SQL | none")],
    column: Annotated[str | None, typer.Option(help="TABLE.COLUMN (d.db.t.col)")] = None,
    tag: Annotated[str | None, typer.Option(help="Every column tagged KEY=VALUE.")] = None,
    as_: As = MESH_ADMIN,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Mask a column, or every column with a tag, for principals without UNMASK."""
    with Mesh.open(home) as mesh:
        rule = mesh.mask(column=column, tag=tag, spec=with_, as_=as_)
    if json_:
        print_json(rule)
    elif rule.get("removed"):
        out.print(f"removed the mask on {rule['target']}", markup=False)
    else:
        out.print(
            f"masked {rule['target']} with {rule['method']} (rule {rule['id']})", markup=False
        )


# --------------------------------------------------------------------------- explain


@access_app.command("explain")
def access_explain(
    table: str,
    as_: As = MESH_ADMIN,
    action: Annotated[str, typer.Option(help="The action to explain.")] = "SELECT",
    home: Home = None,
    json_: Json = False,
) -> None:
    """Which grants, tags, filters, masks and expiries decide; what is missing if denied."""
    with Mesh.open(home) as mesh:
        e = mesh.explain(table, as_=as_, action=action)
    if json_:
        print_json(e)
        return
    verdict = "ALLOWED" if e["allowed"] else "DENIED"
    out.print(f"{e['principal']} {e['action']} {e['table']}: {verdict}", markup=False)
    if e["missing"]:
        out.print(f"  missing: {e['missing']}", markup=False)
    for item in e["determined_by"]:
        out.print(f"  determined by: {item}", markup=False)
    if e["allowed"]:
        out.print(f"  columns: {', '.join(e['columns'])}", markup=False)
        if e["hidden_columns"]:
            out.print(f"  hidden columns: {', '.join(e['hidden_columns'])}", markup=False)
        filters = e["row_filters"]
        out.print(
            f"  rows: {' OR '.join(f'({f})' for f in filters) if filters else 'all'}", markup=False
        )
        for col, m in e["masks"].items():
            out.print(f"  mask: {col} -> {m['method']} (rule on {m['target']})", markup=False)
    for g in e["grants"]:
        out.print(
            f"  grant {g['id']}: {','.join(g['actions'])} on {g['resource']} to "
            f"{g['principal']}{_expiry(g)}",
            markup=False,
        )
    for g in e["other_grants"]:
        out.print(
            f"  not used: grant {g['id']} on {g['resource']} to {g['principal']}: {g['why_not']}",
            markup=False,
        )
    if e["table_tags"]:
        out.print(f"  table tags: {_tags(e['table_tags'])}", markup=False)
    for col, tags in e["column_tags"].items():
        out.print(f"  column {col} tags: {_tags(tags)}", markup=False)


def _expiry(g: dict[str, Any]) -> str:
    left = g["expires_in_seconds"]
    return "" if left is None else f" (expires in {left // 3600}h{left % 3600 // 60:02d}m)"


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))


# --------------------------------------------------------------------------- audit


@audit_app.command("list")
def audit_list(
    principal: Annotated[str | None, typer.Option(help="Only this principal.")] = None,
    resource: Annotated[str | None, typer.Option(help="This resource or what is under it.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
    outcome: Annotated[str | None, typer.Option(help="allowed, denied, ok, refused, ...")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 timestamp.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601 timestamp.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    home: Home = None,
    json_: Json = False,
) -> None:
    """Audit records, newest first."""
    with Mesh.open(home) as mesh:
        records = mesh.audit_list(
            principal=principal,
            resource=resource,
            action=action,
            since=_when(since),
            until=_when(until),
            limit=limit,
        )
    if json_:
        print_json([r.model_dump(mode="json") for r in records])
        return
    table = Table("seq", "time (UTC)", "principal", "action", "resource", "outcome")
    for r in records:
        table.add_row(
            str(r.seq),
            r.ts.isoformat()[:19].replace("T", " "),
            r.principal,
            r.action,
            r.resource or "",
            r.outcome,
        )
    out.print(table)


@audit_app.command("verify")
def audit_verify(home: Home = None, json_: Json = False) -> None:
    """Check the hash chain and the signed checkpoints; exit 1 if anything was tampered."""
    with Mesh.open(home) as mesh:
        report = mesh.audit_verify()
    if json_:
        print_json(report.model_dump(mode="json") | {"ok": report.ok})
    else:
        for p in report.problems:
            out.print(f"{p.kind} at seq {p.seq}: {p.detail}", markup=False)
        out.print(
            f"audit chain {'verified' if report.ok else 'FAILED'}: {report.records_checked} "
            f"records up to seq {report.last_seq}, {report.checkpoints_checked} signed "
            "checkpoints",
            markup=False,
        )
    if not report.ok:
        raise LakemeshError(f"audit verification failed: {len(report.problems)} problem(s)")


@audit_app.command("checkpoint")
def audit_checkpoint(home: Home = None, json_: Json = False) -> None:
    """Sign the chain's head now (checkpoints are also written periodically)."""
    with Mesh.open(home) as mesh:
        cp = mesh.audit_checkpoint()
    data = cp.model_dump(mode="json")
    if json_:
        print_json(data)
    else:
        out.print(f"checkpoint at seq {data.get('seq')}", markup=False)


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"invalid timestamp {text!r}: expected ISO-8601") from exc
    if when.tzinfo is None:
        raise InvalidInput(f"timestamp {text!r} needs a time zone (e.g. Z)")
    return when
