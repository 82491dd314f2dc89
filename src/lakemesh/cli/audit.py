"""Audit commands: list, verify and checkpoint the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime

import click

from lakemesh.cli._common import (
    command,
    group,
    open_mesh,
    out,
    print_json,
    when,
)
from lakemesh.cli._table import TextTable
from lakemesh.errors import LakemeshError

audit_app = group("audit", "The hash-chained audit log.")


# --------------------------------------------------------------------------- audit


@command(audit_app, "list")
@click.option("--principal", metavar="P", help="Only this principal.")
@click.option("--resource", metavar="R", help="This resource or what is under it.")
@click.option("--action", metavar="A", help="Only this action.")
@click.option("--outcome", metavar="O", help="Only this outcome: allowed, denied, ok, refused, ...")
@click.option("--since", metavar="TS", help="From this ISO-8601 timestamp (inclusive).")
@click.option("--until", metavar="TS", help="Up to this ISO-8601 timestamp (exclusive).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, metavar="N")
def audit_list(
    principal: str | None,
    resource: str | None,
    action: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    home: str | None,
    json_: bool,
) -> None:
    """Audit records, newest first."""
    with open_mesh(home) as mesh:
        records = mesh.audit.records(
            principal=principal,
            resource=resource,
            action=action,
            outcome=outcome,
            since=_timestamp(since),
            until=_timestamp(until),
            limit=limit,
        )
    if json_:
        print_json([r.model_dump(mode="json") for r in records])
        return
    table = TextTable("seq", "time (UTC)", "principal", "action", "resource", "outcome")
    for r in records:
        table.add_row(
            str(r.seq), when(r.ts.isoformat()), r.principal, r.action, r.resource or "", r.outcome
        )
    out.print(table)


@command(audit_app, "verify")
def audit_verify(home: str | None, json_: bool) -> None:
    """Check the hash chain and the signed checkpoints; exit 1 if anything was tampered."""
    with open_mesh(home) as mesh:
        report = mesh.audit.verify()
    if json_:
        print_json(report.model_dump(mode="json") | {"ok": report.ok})
    else:
        for p in report.problems:
            out.print(f"{p.kind} at seq {p.seq}: {p.detail}")
        out.print(
            f"audit chain {'verified' if report.ok else 'FAILED'}: {report.records_checked} "
            f"records up to seq {report.last_seq}, {report.checkpoints_checked} signed "
            "checkpoints"
        )
    if not report.ok:
        raise LakemeshError(f"audit verification failed: {len(report.problems)} problem(s)")


@command(audit_app, "checkpoint")
def audit_checkpoint(home: str | None, json_: bool) -> None:
    """Sign the chain's head now (checkpoints are also written periodically)."""
    with open_mesh(home) as mesh:
        cp = mesh.audit.checkpoint()
    data = cp.model_dump(mode="json")
    if json_:
        print_json(data)
    else:
        out.print(f"checkpoint at seq {data.get('seq')}")


def _timestamp(text: str | None) -> datetime | None:
    if text is None:
        return None
    from lakemesh.typedef import parse_instant

    return parse_instant(text, "timestamp")
