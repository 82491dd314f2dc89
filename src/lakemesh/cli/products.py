"""Stewardship commands: classification, data products, lineage, the glossary."""

from __future__ import annotations

from typing import Any

import click

from lakemesh.cli._common import (
    CONTEXT,
    app,
    command,
    group,
    open_mesh,
    out,
    print_json,
    warn,
    when,
)
from lakemesh.cli._table import TextTable


class _TableGroup(click.Group):
    """``lakemesh classify TABLE`` runs the classifier; ``classify queue|accept|reject``
    are its subcommands. A first word that names no subcommand is the table."""

    DEFAULT = "run"

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or super().get_command(ctx, self.DEFAULT)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return self.DEFAULT, self.commands[self.DEFAULT], args
        return super().resolve_command(ctx, args)


classify_app = _TableGroup(
    "classify",
    help="Classify a table's columns (classify TABLE), and the stewards' queue.",
    subcommand_metavar="TABLE | queue|accept|reject ...",
    context_settings=CONTEXT,
)
app.add_command(classify_app)
product_app = group("product", "Register and inspect data products.")
lineage_app = group("lineage", "Ingest OpenLineage run events; show a table's lineage.")
glossary_app = group("glossary", "The business glossary: terms, definitions, links.")


# --------------------------------------------------------------------------- classify


@command(classify_app, "run", acts=True)
@click.argument("table")
def classify_run(table: str, as_: str, home: str | None, json_: bool) -> None:
    """Classify TABLE now: recommendations with reasons, for its stewards to decide."""
    with open_mesh(home) as mesh:
        report = mesh.classification.classify(table, as_=as_)
    if json_:
        print_json(report)
        return
    out.print(
        f"{report['table']}: sampled {report['sampled_rows']} rows of {report['columns']} "
        f"columns; {report['new']} new recommendation(s)"
        + (f", {report['suppressed']} rejected before" if report["suppressed"] else "")
        + (f", {report['already_tagged']} already tagged" if report["already_tagged"] else "")
    )
    print_recommendations(report["recommendations"])
    for s in report["skipped"]:
        out.print(f"  skipped {s['column']}: {s['reason']}")


classify_run.hidden = True


@command(classify_app, "queue", acts=True)
@click.argument("domain", required=False)
def classify_queue(domain: str | None, as_: str, home: str | None, json_: bool) -> None:
    """Pending recommendations of DOMAIN (default: your own domain)."""
    with open_mesh(home) as mesh:
        recs = [r.as_dict() for r in mesh.classification.queue(domain, as_=as_)]
    if json_:
        print_json(recs)
        return
    if not recs:
        out.print("no pending recommendations")
        return
    print_recommendations(recs)


@command(classify_app, "accept", acts=True)
@click.argument("column", metavar="TABLE.COLUMN")
@click.argument("tag", metavar="[KEY=VALUE]", required=False)
@click.option("--comment", help="Why (kept with the decision).")
def classify_accept(
    column: str, tag: str | None, comment: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """Accept a column's recommendation: its tag is assigned at once."""
    with open_mesh(home) as mesh:
        done = mesh.classification.accept(column, tag, as_=as_, comment=comment)
    if json_:
        print_json(done)
    else:
        out.print(f"accepted: {done['column']} tagged {done['tag']}")


@command(classify_app, "reject", acts=True)
@click.argument("column", metavar="TABLE.COLUMN")
@click.argument("tag", metavar="[KEY=VALUE]", required=False)
@click.option("--comment", help="Why (kept with the decision).")
def classify_reject(
    column: str, tag: str | None, comment: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """Reject a column's recommendations; the classifier remembers."""
    with open_mesh(home) as mesh:
        done = mesh.classification.reject(column, tag, as_=as_, comment=comment)
    if json_:
        print_json(done)
    else:
        out.print(
            f"rejected: {done['column']} {done['tag']} "
            "(not recommended again unless its data changes)"
        )


def print_recommendations(recs: list[dict[str, Any]]) -> None:
    table = TextTable("id", "column", "tag", "recogniser", "confidence", "reason")
    for r in recs:
        table.add_row(
            str(r["id"]),
            f"{r['table']}.{r['column']}",
            r["tag"],
            r["recogniser"],
            f"{r['confidence']:.2f}",
            r["reason"],
        )
    out.print(table)


# --------------------------------------------------------------------------- products


@command(product_app, "register", acts=True)
@click.argument("table")
@click.option("--description", metavar="TEXT", help="What the product holds, for its users.")
@click.option("--contract", "contract_file", metavar="FILE", help="An ODCS v3 contract (YAML).")
@click.option("--owner", metavar="USER", help="The product's owner (default: you).")
@click.option("--classification", help="public | internal | confidential | restricted")
@click.option("--sensitivity", help="low | medium | high")
def product_register(
    table: str,
    description: str | None,
    contract_file: str | None,
    owner: str | None,
    classification: str | None,
    sensitivity: str | None,
    as_: str,
    home: str | None,
    json_: bool,
) -> None:
    """Register TABLE as a data product, with an optional data contract."""
    with open_mesh(home) as mesh:
        done = mesh.products.register(
            table,
            description=description,
            contract_file=contract_file,
            owner=owner,
            classification=classification,
            sensitivity=sensitivity,
            as_=as_,
        )
    if json_:
        print_json(done)
        return
    verb = "registered" if done["created"] else "updated"
    contract = f", contract v{done['contract_version']}" if done["contract_version"] else ""
    out.print(f"{verb} data product {done['table']} (owner {done['owner']}{contract})")
    if "quality" in done:
        _print_quality_run(done["quality"])
    if done.get("quality_error"):
        warn([f"quality check failed: {done['quality_error']}"])


@command(product_app, "list", acts=True)
def product_list(as_: str, home: str | None, json_: bool) -> None:
    """Every registered data product (discoverable by every user)."""
    with open_mesh(home) as mesh:
        rows = mesh.products.list(as_=as_)
    if json_:
        print_json(rows)
        return
    if not rows:
        out.print("no data products")
        return
    table = TextTable("product", "owner", "classification", "contract", "quality", "description")
    for r in rows:
        q = r["quality"]
        quality = "-" if q is None else f"{q['passed']} passed, {q['failed']} failed"
        table.add_row(
            r["table"],
            r["owner"],
            r["classification"] or "-",
            f"v{r['contract_version']}" if r["contract_version"] else "-",
            quality,
            r["description"] or "",
        )
    out.print(table)


@command(product_app, "show", acts=True)
@click.argument("table")
def product_show(table: str, as_: str, home: str | None, json_: bool) -> None:
    """A product: owner, contract, quality over time, lineage, glossary, schema."""
    with open_mesh(home) as mesh:
        data = mesh.products.show(table, as_=as_)
    if json_:
        print_json(data)
        return
    print_product(data)


@command(product_app, "check", acts=True)
@click.argument("table")
def product_check(table: str, as_: str, home: str | None, json_: bool) -> None:
    """Check a product's contract and measure its quality now."""
    with open_mesh(home) as mesh:
        done = mesh.products.check(table, as_=as_)
    if json_:
        print_json(done)
        return
    _print_quality_run(done)


def _print_quality_run(run: dict[str, Any]) -> None:
    out.print(f"quality: {run['passed']} passed, {run['failed']} failed")
    for m in run["metrics"]:
        out.print(f"  {_metric_line(m)}")
    for v in run["violations"]:
        if v["kind"] in ("missing_column", "type_mismatch"):
            out.print(f"  FAIL contract     {v['message']}")


def _metric_line(m: dict[str, Any]) -> str:
    mark = {True: "ok  ", False: "FAIL", None: "    "}[m["passed"]]
    what = m["rule"] if m["kind"] == "validity" and m["rule"] else m["kind"]
    return f"{mark} {what:<28} {m['detail']}"


def print_product(data: dict[str, Any]) -> None:
    """The product part of ``show``."""
    p = data["product_info"]
    out.print(f"data product {data['name']}")
    for key in ("owner", "description", "classification", "sensitivity"):
        if p.get(key):
            out.print(f"  {key}: {p[key]}")
    out.print(f"  pii: {'yes' if data.get('pii') else 'no'}")
    if p.get("contract_version"):
        versions = ", ".join(
            f"v{c['version']} ({c['contract_id']} {c['contract_version']}, "
            f"{when(c['registered_at'])})"
            for c in p["contracts"]
        )
        out.print(f"  contract: v{p['contract_version']} of {versions}")
    history = data.get("history") or []
    if history:
        out.print("  schema versions:")
        for v in history:
            changes = "; ".join(
                f"{c['kind']} {c.get('column') or ''}".strip()
                + (" (breaking)" if c.get("breaking") else "")
                for c in v["changes"]
            )
            out.print(f"    v{v['version']} {when(v['created_at'])}: {changes or 'created'}")
    quality = data.get("quality") or []
    if quality:
        out.print("  quality over time:")
        for run in quality[-10:]:
            out.print(
                f"    {when(run['measured_at'])}  {run['passed']} passed, {run['failed']} failed"
            )
        last = quality[-1]
        for m in last["metrics"]:
            out.print(f"      {_metric_line(m)}")
    print_stewardship(data)


def print_stewardship(data: dict[str, Any]) -> None:
    """Lineage and glossary terms (shown for any table, product or not)."""
    _print_lineage(data.get("lineage") or {})
    terms = data.get("glossary") or {}
    if terms:
        out.print("  glossary:")
        for resource, names in sorted(terms.items()):
            out.print(f"    {resource}: {', '.join(names)}")


def _print_lineage(lineage: dict[str, Any]) -> None:
    up, down = lineage.get("upstream") or [], lineage.get("downstream") or []
    if not up and not down:
        return
    out.print("  lineage:")
    for e in up:
        out.print(f"    upstream   {e['source']} -> {e['target']}  (job {e['job']})")
    for e in down:
        out.print(f"    downstream {e['source']} -> {e['target']}  (job {e['job']})")


# --------------------------------------------------------------------------- lineage


@command(lineage_app, "ingest", acts=True)
@click.argument("path", metavar="FILE")
def lineage_ingest(path: str, as_: str, home: str | None, json_: bool) -> None:
    """Ingest OpenLineage run events from FILE (JSON, a JSON array, or JSON lines; or a
    folder of such files): all of them, or none if one is malformed."""
    with open_mesh(home) as mesh:
        done = mesh.lineage.ingest(path, as_=as_)
    if json_:
        print_json(done)
        return
    dup = f", {done['duplicates']} already known" if done["duplicates"] else ""
    out.print(
        f"ingested {done['runs']} run event(s){dup}; {done['edges']} new lineage edge(s)"
        + (f" touching {', '.join(done['tables'])}" if done["tables"] else "")
    )


@command(lineage_app, "show", acts=True)
@click.argument("table")
@click.option("--depth", type=click.IntRange(1, 50), default=5, show_default=True)
def lineage_show(table: str, depth: int, as_: str, home: str | None, json_: bool) -> None:
    """TABLE's upstream and downstream, as far as you may see them."""
    with open_mesh(home) as mesh:
        data = mesh.lineage.show(table, as_=as_, depth=depth)
    if json_:
        print_json(data)
        return
    if not data["upstream"] and not data["downstream"]:
        out.print(f"no lineage recorded for {data['table']}")
        return
    out.print(f"lineage of {data['table']}")
    for direction in ("upstream", "downstream"):
        for e in data[direction]:
            indent = "  " * e["hops"]
            out.print(f"{indent}{direction}: {e['source']} -> {e['target']}  (job {e['job']})")


# --------------------------------------------------------------------------- glossary


@command(glossary_app, "add", acts=True)
@click.argument("term")
@click.option("--definition", required=True, metavar="TEXT")
@click.option("--owner", metavar="USER", help="Who owns the term (default: you).")
def glossary_add(
    term: str, definition: str, owner: str | None, as_: str, home: str | None, json_: bool
) -> None:
    """Add a term (or redefine one you own)."""
    with open_mesh(home) as mesh:
        done = mesh.glossary.add(term, definition, owner=owner, as_=as_)
    if json_:
        print_json(done)
    else:
        verb = "added" if done["created"] else "redefined"
        out.print(f"{verb} glossary term {done['name']!r} (owner {done['owner']})")


@command(glossary_app, "link", acts=True)
@click.argument("term")
@click.argument("resource", metavar="TABLE[.COLUMN]")
def glossary_link(term: str, resource: str, as_: str, home: str | None, json_: bool) -> None:
    """Link a term to a table or a column."""
    with open_mesh(home) as mesh:
        done = mesh.glossary.link(term, resource, as_=as_)
    if json_:
        print_json(done)
    else:
        already = "" if done["new"] else " (already linked)"
        out.print(f"linked {done['name']!r} to {done['linked']}{already}")


@command(glossary_app, "list", acts=True)
def glossary_list(as_: str, home: str | None, json_: bool) -> None:
    """Every term with its definition, owner and links."""
    with open_mesh(home) as mesh:
        terms = mesh.glossary.list(as_=as_)
    if json_:
        print_json(terms)
        return
    if not terms:
        out.print("the glossary is empty")
        return
    table = TextTable("term", "definition", "owner", "linked to")
    for t in terms:
        table.add_row(t["name"], t["definition"], t["owner"], ", ".join(t["links"]))
    out.print(table)
