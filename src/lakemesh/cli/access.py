"""Access commands: users, tags, grants, revokes, masks, access explain."""

from __future__ import annotations

from typing import Any

import click

from lakemesh.cli._common import (
    command,
    err,
    group,
    open_mesh,
    out,
    print_json,
    split,
    when,
)
from lakemesh.cli._table import TextTable
from lakemesh.errors import InvalidInput

user_app = group("user", "Users and their API tokens.")
tag_app = group("tag", "Governed tags (LF-tags).")
access_app = group("access", "Why a principal can or cannot read.")


# --------------------------------------------------------------------------- users


@command(user_app, "create", acts=True)
@click.argument("name", metavar="NAME@DOMAIN")
@click.option("--role", default="member", show_default=True, help="admin | steward | member")
@click.option("--email", metavar="ADDRESS", help="Where workflow mail (approvals) goes.")
def user_create(
    name: str, role: str, email: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """Create a user; its API token is printed once and stored only as a hash."""
    with open_mesh(home) as mesh:
        user, token = mesh.access.create_user(name, role, email=email, as_=as_)
    if json_:
        print_json({"name": user.name, "domain": user.domain, "role": user.role, "token": token})
    else:
        out.print(f"created {user.name} ({user.role}); API token (shown once): {token}")


@command(user_app, "email", acts=True)
@click.argument("name", metavar="NAME@DOMAIN")
@click.argument("address", required=False)
def user_email(name: str, address: str | None, as_: str, home: str | None, json_: bool) -> None:
    """Set where a user's approval requests and decisions are mailed (no ADDRESS: clear)."""
    with open_mesh(home) as mesh:
        result = mesh.access.set_email(name, address, as_=as_)
    if json_:
        print_json(result)
    else:
        out.print(f"{name}: mail to {address}" if address else f"{name}: no mail")


@command(user_app, "token", acts=True)
@click.argument("name", metavar="NAME@DOMAIN")
def user_token(name: str, as_: str, home: str | None, json_: bool) -> None:
    """Issue a new API token for a user (printed once); the old token and the web
    sessions signed in with it stop working."""
    with open_mesh(home) as mesh:
        token = mesh.access.new_token(name, as_=as_)
    if json_:
        print_json({"name": name, "token": token})
    else:
        out.print(f"new API token for {name} (shown once): {token}")


@command(user_app, "list", acts=True)
def user_list(as_: str, home: str | None, json_: bool) -> None:
    """Users the caller may see: all for the mesh admin, else those of the caller's domain."""
    with open_mesh(home) as mesh:
        users = mesh.access.users(as_=as_)
    if json_:
        print_json(users)
        return
    table = TextTable("name", "domain", "role", "created (UTC)", "created by")
    for u in users:
        table.add_row(u.name, u.domain, u.role, when(u.created_at), u.created_by)
    out.print(table)


# --------------------------------------------------------------------------- tags


@command(tag_app, "define", acts=True)
@click.argument("key")
@click.option("--values", required=True, metavar="V1,V2,...", help="Allowed values.")
def tag_define(key: str, values: str, as_: str, home: str | None, json_: bool) -> None:
    """Define a tag key and its allowed values (mesh admin)."""
    with open_mesh(home) as mesh:
        tag = mesh.access.define_tag(key, split(values) or [], as_=as_)
    if json_:
        print_json(tag)
    else:
        verb = "defined" if tag["created"] else "updated"
        out.print(f"{verb} tag {tag['key']} = {'|'.join(tag['values'])}")


@command(tag_app, "assign", acts=True)
@click.argument("resource")
@click.argument("assignment", metavar="KEY=VALUE")
def tag_assign(resource: str, assignment: str, as_: str, home: str | None, json_: bool) -> None:
    """Tag a database, table or column (KEY=VALUE), as a steward of its domain."""
    with open_mesh(home) as mesh:
        done = mesh.access.assign_tag(resource, assignment, as_=as_)
    if json_:
        print_json(done)
    else:
        was = f" (was {done['previous']})" if done["previous"] else ""
        out.print(f"tagged {done['resource']} {done['key']}={done['value']}{was}")


@command(tag_app, "list", acts=True)
def tag_list(as_: str, home: str | None, json_: bool) -> None:
    """Tag keys and their allowed values."""
    with open_mesh(home) as mesh:
        tags = mesh.access.tags(as_=as_)
    if json_:
        print_json(tags)
        return
    if not tags:
        out.print("no tags defined (lakemesh tag define KEY --values V1,V2)")
    for t in tags:
        out.print(f"{t.key} = {'|'.join(t.values)}")


# --------------------------------------------------------------------------- grants

#: Options of ``grant ACTIONS`` that ``grant list`` does not take.
_CREATE_ONLY = ("tags", "columns", "exclude_columns", "row_filter", "grantable", "expires")


@command(acts=True)
@click.argument("actions")
@click.option("--to", metavar="PRINCIPAL", help="user@domain, a domain, or domain:role.")
@click.option("--on", metavar="RESOURCE", help="A table (d.db.t) or a database (d.db).")
@click.option("--tags", metavar="EXPR", help="A tag expression: k=v1|v2 AND k2=v.")
@click.option("--columns", metavar="C1,C2", help="Only these columns.")
@click.option("--exclude-columns", metavar="C1,C2", help="Every column but these.")
@click.option("--row-filter", metavar="EXPR", help="Boolean SQL over the table's columns.")
@click.option("--grantable", is_flag=True, help="The grantee may delegate it.")
@click.option(
    "--expires",
    metavar="WHEN",
    help="A duration (30d, 12h, 2w) or a timestamp; a timestamp without a zone is UTC.",
)
@click.option("--all", "all_", is_flag=True, help="grant list: include revoked and expired.")
def grant(
    actions: str,
    to: str | None,
    on: str | None,
    all_: bool,
    as_: str,
    home: str | None,
    json_: bool,
    **shape: Any,
) -> None:
    """Grant ACTIONS on a table, a database or a tag expression; or list grants.

    ACTIONS are DESCRIBE, SELECT, ALTER, DROP, UNMASK (comma-separated) or ALL. Granting
    exactly what the principal already holds returns the existing grant.

    'lakemesh grant list [--on RESOURCE] [--to PRINCIPAL] [--all]' lists the grants the
    caller may see: the ones it made, may revoke, or that apply to it.
    """
    if actions == "list":
        given = [f"--{k.replace('_', '-')}" for k in _CREATE_ONLY if shape[k] not in (None, False)]
        if given:
            raise click.UsageError(f"'grant list' does not take {', '.join(given)}")
        _grant_list(on, to, all_, as_, home, json_)
        return
    if all_:
        raise click.UsageError("--all applies to 'grant list' only")
    if to is None:
        raise click.UsageError("Missing option '--to'.")
    from lakemesh.access.grants import GrantRequest, parse_actions

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
        tags=shape["tags"],
        columns=split(shape["columns"]),
        exclude_columns=split(shape["exclude_columns"]),
        row_filter=shape["row_filter"],
        grantable=shape["grantable"],
        expires=shape["expires"],
    )
    with open_mesh(home) as mesh:
        g = mesh.access.grant(request, as_=as_)
    for note in g.get("notes", ()):
        err.print(f"note: {note}")
    if json_:
        print_json(g)
        return
    extra = [
        f"columns {','.join(g['columns'])}" if g["columns"] else "",
        f"all columns but {','.join(g['exclude_columns'])}" if g["exclude_columns"] else "",
        f"row filter {g['row_filter']}" if g["row_filter"] else "",
        f"expires {g['expires_at']}" if g["expires_at"] else "",
        "grantable" if g["grantable"] else "",
    ]
    detail = "; ".join(x for x in extra if x)
    verb = "already granted" if g.get("existing") else "granted"
    out.print(
        f"{verb} {','.join(g['actions'])} on {g['resource']} to {g['principal']} "
        f"(grant {g['id']}{'; ' + detail if detail else ''})"
    )


def _grant_list(
    on: str | None, to: str | None, all_: bool, as_: str, home: str | None, json_: bool
) -> None:
    with open_mesh(home) as mesh:
        grants = mesh.access.grants(on=on, to=to, include_inactive=all_, as_=as_)
    if json_:
        print_json(grants)
        return
    if not grants:
        out.print("no grants")
        return
    table = TextTable(
        "id", "principal", "actions", "resource", "scope", "expires (UTC)", "by", "status"
    )
    for g in grants:
        scope = [
            f"columns {','.join(g['columns'])}" if g["columns"] else "",
            f"not {','.join(g['exclude_columns'])}" if g["exclude_columns"] else "",
            f"rows {g['row_filter']}" if g["row_filter"] else "",
            "grantable" if g["grantable"] else "",
            f"from {g['parent_id']}" if g["parent_id"] else "",
        ]
        table.add_row(
            g["id"],
            g["principal"],
            ",".join(g["actions"]),
            g["resource"],
            "; ".join(s for s in scope if s) or "all",
            when(g["expires_at"]) if g["expires_at"] else "never",
            g["granted_by"],
            g["status"],
        )
    out.print(table)


@command(acts=True)
@click.argument("grant_id", metavar="GRANT_ID")
def revoke(grant_id: str, as_: str, home: str | None, json_: bool) -> None:
    """Revoke a grant (and the grants delegated from it)."""
    with open_mesh(home) as mesh:
        revoked = mesh.access.revoke(grant_id, as_=as_)
    if json_:
        print_json({"revoked": revoked})
    else:
        more = f" and {len(revoked) - 1} delegated grant(s)" if len(revoked) > 1 else ""
        out.print(f"revoked {grant_id}{more}")


@command(acts=True)
@click.option(
    "--with",
    "with_",
    required=True,
    metavar="METHOD",
    help="hash | redact | null | last4 | a SQL expression over value | none (remove).",
)
@click.option("--column", metavar="TABLE.COLUMN", help="One column (d.db.t.col).")
@click.option("--tag", metavar="KEY=VALUE", help="Every column tagged KEY=VALUE.")
def mask(
    with_: str, column: str | None, tag: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """Mask a column, or every column with a tag, for principals without UNMASK."""
    with open_mesh(home) as mesh:
        rule = mesh.access.mask(column=column, tag=tag, spec=with_, as_=as_)
    if json_:
        print_json(rule)
    elif rule.get("removed"):
        out.print(f"removed the mask on {rule['target']}")
    else:
        out.print(f"masked {rule['target']} with {rule['method']} (rule {rule['id']})")


# --------------------------------------------------------------------------- explain


@command(access_app, "explain", acts=True)
@click.argument("table")
@click.option(
    "--action",
    default="SELECT",
    show_default=True,
    help="DESCRIBE | SELECT | ALTER | DROP | UNMASK",
)
def access_explain(table: str, action: str, as_: str, home: str | None, json_: bool) -> None:
    """Which grants, tags, filters, masks and expiries decide; what is missing if denied."""
    with open_mesh(home) as mesh:
        e = mesh.access.explain(table, as_=as_, action=action)
    if json_:
        print_json(e)
        return
    verdict = "ALLOWED" if e["allowed"] else "DENIED"
    out.print(f"{e['principal']} {e['action']} {e['table']}: {verdict}")
    if e["missing"]:
        out.print(f"  missing: {e['missing']}")
    for item in e["determined_by"]:
        out.print(f"  determined by: {item}")
    if e["allowed"]:
        out.print(f"  columns: {', '.join(e['columns'])}")
        if e["hidden_columns"]:
            out.print(f"  hidden columns: {', '.join(e['hidden_columns'])}")
        filters = e["row_filters"]
        out.print(f"  rows: {' OR '.join(f'({f})' for f in filters) if filters else 'all'}")
        for col, m in e["masks"].items():
            out.print(f"  mask: {col} -> {m['method']} (rule on {m['target']})")
    for g in e["grants"]:
        out.print(
            f"  grant {g['id']}: {','.join(g['actions'])} on {g['resource']} to "
            f"{g['principal']}{_expiry(g)}"
        )
    for g in e["other_grants"]:
        out.print(
            f"  not used: grant {g['id']} on {g['resource']} to {g['principal']}: {g['why_not']}"
        )
    if e["table_tags"]:
        out.print(f"  table tags: {_tags(e['table_tags'])}")
    for col, tags in e["column_tags"].items():
        out.print(f"  column {col} tags: {_tags(tags)}")


def _expiry(g: dict[str, Any]) -> str:
    left = g["expires_in_seconds"]
    return "" if left is None else f" (expires in {left // 3600}h{left % 3600 // 60:02d}m)"


def _tags(tags: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
