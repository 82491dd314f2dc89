"""The approval rules: the rules in force, and trying rules given as text
(``lakemesh rules show|validate|test``). Rules arrive in the body, never as a path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lakemesh.api.routes._common import Body, Caller, MeshDep, Name

router = APIRouter(tags=["rules"])

#: The name a rule text from a client goes by in messages and the audit log.
SOURCE = "(request body)"


class RuleLine(BaseModel):
    name: str
    line: int


class RuleSetPublic(BaseModel):
    """A checked rule set: where it came from, its digest, its rules in order."""

    source: str
    digest: str
    rules: list[RuleLine]


class RulesText(Body):
    rules: str = Field(..., min_length=1, max_length=100_000, description="YAML rule text")


class RequestSpec(Body):
    """An access request as the rules would see it."""

    table: Name
    columns: list[Name] | None = Field(None, max_length=2000)
    duration: str | None = Field(None, min_length=1, max_length=40, description="e.g. 30d")
    requester: str | None = Field(None, min_length=3, max_length=200, description="Default: you")
    for_domain: bool = False


class RulesTest(RulesText):
    request: RequestSpec


class RulesOutcome(BaseModel):
    """Which rule would decide, how, and one line per rule looked at."""

    rule: str | None
    kind: str
    exclude_columns: list[str]
    row_filter: str | None
    route_to: str | list[str] | None
    approvals: int
    offer_exclude: list[str]
    comment: str | None
    summary: str
    explanation: list[str]


def _public(rules: Any) -> RuleSetPublic:
    return RuleSetPublic(
        source=rules.source,
        digest=rules.digest,
        rules=[RuleLine(name=r.name, line=r.line) for r in rules.rules],
    )


@router.get("/rules", summary="The approval rules in force")
def in_force(mesh: MeshDep, who: Caller) -> RuleSetPublic:
    return _public(mesh.rules.show(as_=who))


@router.post("/rules/validate", summary="Check rule text: every problem with its line")
def validate(body: RulesText, mesh: MeshDep, who: Caller) -> RuleSetPublic:
    return _public(mesh.rules.validate(body.rules, SOURCE, as_=who))


@router.post("/rules/test", summary="What rule text would decide for a request, and why")
def try_rules(body: RulesTest, mesh: MeshDep, who: Caller) -> RulesOutcome:
    from lakemesh.workflow.rules import describe

    spec = body.request
    outcome = mesh.rules.test(
        body.rules,
        SOURCE,
        table=spec.table,
        columns=spec.columns,
        duration=spec.duration,
        requester=spec.requester,
        for_domain=spec.for_domain,
        as_=who,
    )
    route_to = outcome.route_to
    return RulesOutcome(
        rule=outcome.rule,
        kind=outcome.kind,
        exclude_columns=list(outcome.exclude_columns),
        row_filter=outcome.row_filter,
        route_to=list(route_to) if isinstance(route_to, tuple) else route_to,
        approvals=outcome.approvals,
        offer_exclude=list(outcome.offer_exclude),
        comment=outcome.comment,
        summary=describe(outcome),
        explanation=list(outcome.explanation),
    )
