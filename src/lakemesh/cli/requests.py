"""Access requests and the approval rules: ``request ...`` and ``rules ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lakemesh.cli._common import command, group, open_mesh, out, print_json, split, when
from lakemesh.cli._table import TextTable
from lakemesh.errors import InvalidInput

if TYPE_CHECKING:
    from lakemesh.workflow.tickets import Entry, Ticket

request_app = group("request", "Access requests: tickets decided by rules and approvers.")
rules_app = group("rules", "The approval rules that decide access requests.")

STATUSES = ("pending", "approved", "rejected", "revoked", "expired")


def _dict(ticket: Ticket, history: list[Entry] | None = None) -> dict[str, Any]:
    from lakemesh.service.requests import ticket_dict

    return ticket_dict(ticket, history)


def _line(ticket: Ticket) -> str:
    cols = ",".join(ticket.columns) if ticket.columns else "all columns"
    line = f"request {ticket.id}: {ticket.status} — {ticket.table} ({cols}) for {ticket.requester}"
    if ticket.status == "pending" and ticket.route:
        to = ticket.route.to
        who = ", ".join(to) if isinstance(to, tuple) else f"the {to} of {ticket.domain}"
        line += f"; waiting for {who}"
        if ticket.route.approvals > 1:
            line += f" ({len(ticket.approvals)} of {ticket.route.approvals} approvals)"
        if ticket.route.offer_exclude:
            line += f"; offered: approve without {', '.join(ticket.route.offer_exclude)}"
    if ticket.exclude_columns:
        line += f"; without {', '.join(ticket.exclude_columns)}"
    if ticket.row_filter:
        line += f"; rows where {ticket.row_filter}"
    if ticket.expires_at and ticket.status == "approved":
        line += f"; expires {when(ticket.expires_at.isoformat())}"
    elif ticket.status in ("revoked", "expired", "rejected") and ticket.updated_at:
        line += f"; since {when(ticket.updated_at.isoformat())}"
    return line


@command(request_app, "create", acts=True)
@click.argument("table")
@click.option("--columns", metavar="C1,C2", help="Only these columns (default: all).")
@click.option("--reason", required=True, metavar="TEXT", help="What the access is for.")
@click.option("--duration", metavar="30d", help="How long the access lasts (default: no expiry).")
@click.option("--for-domain", is_flag=True, help="Ask for the caller's whole domain (its admin).")
def request_create(
    table: str,
    columns: str | None,
    reason: str,
    duration: str | None,
    for_domain: bool,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Ask for access to a table; the approval rules decide at once or route it."""
    with open_mesh(home) as mesh:
        ticket = mesh.requests.create(
            table,
            reason=reason,
            columns=split(columns) if columns is not None else None,
            duration=duration,
            for_domain=for_domain,
            as_=as_,
        )
    if json_:
        print_json(_dict(ticket))
    else:
        out.print(_line(ticket))


@command(request_app, "list", acts=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only requests in this state.")
def request_list(status: str | None, as_: str, home: str | None, json_: bool) -> None:
    """Requests the caller may see: its own, its domain's (as admin), and those its
    domain decides (as steward)."""
    with open_mesh(home) as mesh:
        rows = mesh.requests.list(status=status, as_=as_)
    if json_:
        print_json([_dict(r) for r in rows])
        return
    if not rows:
        out.print("no requests")
        return
    table = TextTable("id", "status", "table", "requester", "columns", "created (UTC)")
    for r in rows:
        cols = ",".join(r.columns) if r.columns else "all"
        table.add_row(r.id, r.status, r.table, r.requester, cols, when(r.created_at.isoformat()))
    out.print(table)


@command(request_app, "show", acts=True)
@click.argument("request_id", metavar="ID")
def request_show(request_id: str, as_: str, home: str | None, json_: bool) -> None:
    """A request and its history: who did what, when, and why."""
    with open_mesh(home) as mesh:
        ticket, history = mesh.requests.show(request_id, as_=as_)
    if json_:
        print_json(_dict(ticket, history))
        return
    out.print(_line(ticket))
    out.print(f"reason: {ticket.reason}")
    if ticket.rule:
        out.print(f"rule: {ticket.rule}")
    if ticket.grant_ids:
        out.print(f"grants: {', '.join(ticket.grant_ids)}")
    table = TextTable("when (UTC)", "who", "what", "status", "comment")
    for e in history:
        table.add_row(when(e.at.isoformat()), e.actor, e.kind, e.status, e.comment or "")
    out.print(table)


def _decide(
    verb: str,
    request_id: str | None,
    link: str | None,
    exclude_columns: str | None,
    row_filter: str | None,
    comment: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    ctx = click.get_current_context()
    with open_mesh(home) as mesh:
        if link is not None:
            if request_id is not None or exclude_columns or row_filter:
                raise InvalidInput("--link carries its decision: give no ID or other options")
            given = ctx.get_parameter_source("as_") == click.core.ParameterSource.COMMANDLINE
            ticket = mesh.requests.follow(link, as_=as_ if given else None, comment=comment)
        elif request_id is None:
            raise click.UsageError("give a request ID (or --link URL)")
        elif verb == "approve":
            ticket = mesh.requests.approve(
                request_id,
                exclude_columns=split(exclude_columns) if exclude_columns is not None else None,
                row_filter=row_filter,
                comment=comment,
                as_=as_,
            )
        else:
            if exclude_columns or row_filter:
                raise InvalidInput("--exclude-columns and --row-filter apply to approve")
            ticket = mesh.requests.reject(request_id, comment=comment, as_=as_)
    if json_:
        print_json(_dict(ticket))
    else:
        out.print(_line(ticket))


_ID = click.argument("request_id", metavar="ID", required=False)
_LINK = click.option("--link", metavar="URL", help="Follow an approval link from the mail.")
_EXCLUDE = click.option("--exclude-columns", metavar="C1,C2", help="Approve without these columns.")
_FILTER = click.option("--row-filter", metavar="EXPR", help="Approve only the rows matching.")
_COMMENT = click.option("--comment", metavar="TEXT", help="Why (kept in the request's history).")


@command(request_app, "approve", acts=True)
@_ID
@_LINK
@_EXCLUDE
@_FILTER
@_COMMENT
def request_approve(
    request_id: str | None,
    link: str | None,
    exclude_columns: str | None,
    row_filter: str | None,
    comment: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Approve a request (in full, without some columns, or for some rows): its grants
    are made in the same step."""
    _decide("approve", request_id, link, exclude_columns, row_filter, comment, as_, home, json_)


@command(request_app, "reject", acts=True)
@_ID
@_LINK
@_EXCLUDE
@_FILTER
@_COMMENT
def request_reject(
    request_id: str | None,
    link: str | None,
    exclude_columns: str | None,
    row_filter: str | None,
    comment: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Reject a request, with a comment for the requester."""
    _decide("reject", request_id, link, exclude_columns, row_filter, comment, as_, home, json_)


@command(request_app, "revoke", acts=True)
@click.argument("request_id", metavar="ID")
@_COMMENT
def request_revoke(
    request_id: str, comment: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """End the access an approved request gave: exactly its grants are revoked."""
    with open_mesh(home) as mesh:
        ticket = mesh.requests.revoke(request_id, comment=comment, as_=as_)
    if json_:
        print_json(_dict(ticket))
    else:
        out.print(_line(ticket))


# --------------------------------------------------------------------------- rules


def _read(path: str) -> tuple[str, str]:
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except FileNotFoundError as exc:
        raise InvalidInput(f"no such file: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from exc


@command(rules_app, "validate")
@click.argument("file", metavar="FILE")
def rules_validate(file: str, home: str | None, json_: bool) -> None:
    """Check an approval rule file: every problem is reported with its line."""
    from lakemesh.workflow.rules import load_rules

    text, source = _read(file)
    rules = load_rules(text, source)
    if json_:
        print_json({"valid": True, "rules": [r.name for r in rules.rules], "digest": rules.digest})
    else:
        out.print(
            f"{source}: valid, {len(rules.rules)} rule(s): {', '.join(r.name for r in rules.rules)}"
        )


@command(rules_app, "show")
def rules_show(home: str | None, json_: bool) -> None:
    """The rules in force (a file that failed to validate leaves the previous ones)."""
    with open_mesh(home) as mesh:
        rules = mesh.rules.in_force()
    if json_:
        print_json(
            {"source": rules.source, "digest": rules.digest, "rules": [r.name for r in rules.rules]}
        )
    else:
        out.print(f"in force: {rules.source} ({rules.digest[:12]})")
        for r in rules.rules:
            out.print(f"  {r.name} (line {r.line})")


@command(rules_app, "test", acts=True)
@click.argument("file", metavar="FILE")
@click.option(
    "--request",
    "request",
    required=True,
    metavar="JSON|TABLE",
    help='The request: a table name, or JSON {"table": ..., "columns": [...], '
    '"duration": "30d", "requester": "user@domain", "for_domain": false}.',
)
def rules_test(file: str, request: str, as_: str, home: str | None, json_: bool) -> None:
    """Which rule would decide a request, and why."""
    from lakemesh.workflow.rules import describe

    text, source = _read(file)
    spec = _request_spec(request)
    with open_mesh(home) as mesh:
        outcome = mesh.rules.test(text, source, as_=as_, **spec)
    if json_:
        print_json(
            {
                "rule": outcome.rule,
                "kind": outcome.kind,
                "exclude_columns": list(outcome.exclude_columns),
                "row_filter": outcome.row_filter,
                "route_to": outcome.route_to,
                "approvals": outcome.approvals,
                "offer_exclude": list(outcome.offer_exclude),
                "comment": outcome.comment,
                "summary": describe(outcome),
                "explanation": list(outcome.explanation),
            }
        )
        return
    out.print(describe(outcome))
    for line in outcome.explanation:
        out.print(f"  {line}")


def _request_spec(text: str) -> dict[str, Any]:
    text = text.strip()
    if not text.startswith("{"):
        return {"table": text}
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"invalid --request: not JSON ({exc})") from exc
    allowed = {"table", "columns", "duration", "requester", "for_domain"}
    if not isinstance(spec, dict) or "table" not in spec:
        raise InvalidInput('invalid --request: expected {"table": ..., ...}')
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InvalidInput(f"invalid --request: unknown key {unknown[0]!r}")
    if spec.get("columns") is not None and (
        not isinstance(spec["columns"], list)
        or not all(isinstance(c, str) for c in spec["columns"])
    ):
        raise InvalidInput("invalid --request: columns must be a list of names")
    for key in ("table", "duration", "requester"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise InvalidInput(f"invalid --request: {key} must be a string")
    if not isinstance(spec.get("for_domain", False), bool):
        raise InvalidInput("invalid --request: for_domain must be true or false")
    return spec
