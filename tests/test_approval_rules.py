"""Approval rules: the default reproduces the seeds, every condition and action decides as
documented, the first match wins, every refusal names its line, and evaluation never
raises, never grants an excluded column and never explains with anything but names."""

from __future__ import annotations

import hashlib
import re
import textwrap
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lakemesh.errors import InvalidInput
from lakemesh.workflow.rules import (
    DEFAULT_RULES,
    MAX_NAMES,
    MAX_RULES,
    MAX_TEXT,
    ROLES,
    Approve,
    Outcome,
    RequestFacts,
    Route,
    RuleSet,
    TagSet,
    default_rules,
    describe,
    duration_text,
    load_rules,
    parse_duration,
)

PII = {"pii": "true"}
NOT_PII = {"pii": "false"}


def facts(**changes: Any) -> RequestFacts:
    """A request for the whole credit profile, whose identifier columns are pii=true."""
    base = RequestFacts(
        table="consumer_banking.curated.credit_profile",
        domain="consumer_banking",
        requester="ana@analytics",
        requester_domain="analytics",
        requester_role="member",
        columns=("customer_id", "iban", "age", "amount"),
        all_columns=True,
        column_tags={"customer_id": PII, "iban": PII, "age": NOT_PII, "amount": NOT_PII},
        table_tags={"pii": "false"},
        duration=None,
    )
    return replace(base, **changes)


def some(*columns: str) -> RequestFacts:
    """A request naming only ``columns`` of the credit profile."""
    return facts(columns=columns, all_columns=False)


def load(text: str) -> RuleSet:
    return load_rules(textwrap.dedent(text))


def one(when: str | None, then: str = "approve") -> RuleSet:
    """A file with one rule named ``r``; ``when`` and ``then`` are YAML flow text."""
    lines = ["rules:", "  - name: r"]
    if when is not None:
        lines.append(f"    when: {when}")
    lines.append(f"    then: {then}")
    return load_rules("\n".join(lines) + "\n")


# --------------------------------------------------------------------------- the default


def test_the_default_approves_a_table_without_pii_columns() -> None:
    request = facts(column_tags={"age": NOT_PII}, table_tags={})
    outcome = default_rules().evaluate(request)
    assert (outcome.kind, outcome.rule, outcome.exclude_columns) == (
        "approve",
        "no-pii-auto-approve",
        (),
    )
    assert describe(outcome) == "auto-approved by rule no-pii-auto-approve"


def test_the_default_routes_pii_columns_to_the_stewards_offering_them_left_out() -> None:
    outcome = default_rules().evaluate(facts())
    assert outcome.kind == "route"
    assert outcome.rule == "pii-to-stewards"
    assert outcome.route_to == "stewards"
    assert outcome.approvals == 1
    assert outcome.offer_exclude == ("customer_id", "iban")
    assert describe(outcome) == (
        "routed to the stewards of consumer_banking by rule pii-to-stewards "
        "(1 approval; offers approval without customer_id, iban)"
    )
    first, second = default_rules().rules
    assert outcome.explanation == (
        f"rule no-pii-auto-approve (line {first.line}) does not apply: "
        "columns customer_id, iban are tagged pii=true",
        f"rule pii-to-stewards (line {second.line}) applies: "
        "columns customer_id, iban are tagged pii=true",
    )


def test_the_default_approves_the_non_pii_columns_of_a_pii_table() -> None:
    outcome = default_rules().evaluate(some("age", "amount"))
    assert (outcome.kind, outcome.rule) == ("approve", "no-pii-auto-approve")
    assert outcome.explanation[-1].endswith("applies: no requested column is tagged pii=true")


def test_a_column_that_overrides_the_tables_pii_tag_is_approved_by_the_default() -> None:
    request = replace(some("age"), table_tags=PII, column_tags={"age": NOT_PII})
    assert default_rules().evaluate(request).kind == "approve"


def test_the_default_text_is_the_rule_set_and_its_digest() -> None:
    rules = default_rules()
    assert rules.text == DEFAULT_RULES
    assert rules.digest == hashlib.sha256(DEFAULT_RULES.encode()).hexdigest()
    assert [r.name for r in rules.rules] == ["no-pii-auto-approve", "pii-to-stewards"]
    lines = DEFAULT_RULES.splitlines()
    assert all(lines[r.line - 1].strip() == f"- name: {r.name}" for r in rules.rules)
    # it documents every condition and action it accepts, so a copy can be edited
    for word in ("tagged:", "not_tagged:", "requester_role:", "columns_any:", "all_columns:"):
        assert word in DEFAULT_RULES
    for word in ("duration_max:", "duration_over:", "no_duration:", "domain:", "route:"):
        assert word in DEFAULT_RULES
    for word in ("exclude_tagged", "exclude_columns", "row_filter", "approvals:", "reject"):
        assert word in DEFAULT_RULES


# --------------------------------------------------------------------------- conditions


CONDITIONS = [
    # tagged: a requested column, or the table, carries every listed tag
    ('{tagged: {pii: "true"}}', facts(), True),
    ('{tagged: {pii: "true"}}', some("age"), False),
    ('{tagged: {pii: "true"}}', facts(columns=("age",), table_tags=PII), True),
    ('{tagged: {pii: "*"}}', some("age"), True),
    ('{tagged: {pii: "*"}}', facts(column_tags={}, table_tags={}), False),
    ("{tagged: {pii: [maybe, 'true']}}", some("iban"), True),
    ("{tagged: {pii: true}}", some("iban"), True),  # an unquoted true is the text "true"
    (
        '{tagged: {pii: "true", region: eu}}',
        replace(some("iban", "amount"), column_tags={"iban": PII, "amount": {"region": "eu"}}),
        False,  # no one column carries both
    ),
    (
        '{tagged: {pii: "true", region: eu}}',
        facts(column_tags={"iban": {"pii": "true", "region": "eu"}}),
        True,
    ),
    # not_tagged: no requested column carries them
    ('{not_tagged: {pii: "true"}}', some("age", "amount"), True),
    ('{not_tagged: {pii: "true"}}', some("age", "iban"), False),
    ('{not_tagged: {pii: "true"}}', facts(columns=("age",), table_tags=PII), True),
    ("{not_tagged: {secret: '*'}}", facts(), True),
    # domain, requester_domain, requester_role: one name or a list
    ("{domain: consumer_banking}", facts(), True),
    ("{domain: [investment_banking, consumer_banking]}", facts(), True),
    ("{domain: investment_banking}", facts(), False),
    ("{requester_domain: analytics}", facts(), True),
    ("{requester_domain: [risk]}", facts(), False),
    ("{requester_role: member}", facts(), True),
    ("{requester_role: [admin, steward]}", facts(), False),
    ("{requester_role: [admin, steward]}", facts(requester_role="steward"), True),
    # columns_any
    ("{columns_any: [iban, email]}", facts(), True),
    ("{columns_any: [email, phone]}", facts(), False),
    ("{columns_any: iban}", some("age"), False),
    # all_columns
    ("{all_columns: true}", facts(), True),
    ("{all_columns: true}", some("age"), False),
    ("{all_columns: false}", some("age"), True),
    ("{all_columns: no}", facts(), False),
    # durations: no expiry is forever (never within a maximum, always over a bound)
    ("{duration_max: 30d}", facts(duration=None), False),
    ("{duration_max: 30d}", facts(duration=timedelta(days=30)), True),
    ("{duration_max: 30d}", facts(duration=timedelta(days=30, seconds=1)), False),
    ("{duration_max: 2w}", facts(duration=timedelta(hours=12)), True),
    ("{duration_over: 90d}", facts(duration=None), True),
    ("{duration_over: 90d}", facts(duration=timedelta(days=91)), True),
    ("{duration_over: 90d}", facts(duration=timedelta(days=90)), False),
    ("{no_duration: true}", facts(duration=None), True),
    ("{no_duration: true}", facts(duration=timedelta(hours=1)), False),
    ("{no_duration: false}", facts(duration=timedelta(hours=1)), True),
    # every condition must hold
    ('{domain: consumer_banking, tagged: {pii: "true"}}', facts(), True),
    ('{domain: consumer_banking, tagged: {pii: "true"}}', some("age"), False),
    ("{}", facts(), "refused"),
    (None, facts(), True),
]


@pytest.mark.parametrize(("when", "request_facts", "holds"), CONDITIONS)
def test_each_condition(when: str | None, request_facts: RequestFacts, holds: object) -> None:
    if holds == "refused":
        with pytest.raises(InvalidInput, match="line 3: 'when' is empty"):
            one(when, "reject")
        return
    outcome = one(when, "reject").evaluate(request_facts)
    assert outcome.kind == ("reject" if holds else "route"), outcome.explanation
    assert outcome.rule == ("r" if holds else None)
    verdict = "applies" if holds else "does not apply"
    assert outcome.explanation[0].startswith(f"rule r (line 2) {verdict}: ")


def test_conditions_explain_themselves() -> None:
    def why(when: str, request: RequestFacts) -> str:
        return one(when, "reject").evaluate(request).explanation[0].split(": ", 1)[1]

    assert why('{tagged: {pii: "true"}}', some("iban")) == "column iban is tagged pii=true"
    assert why('{tagged: {pii: "true"}}', facts(columns=("age",), table_tags=PII)) == (
        "the table is tagged pii=true"
    )
    assert why('{tagged: {pii: "true"}}', some("age")) == (
        "neither a requested column nor the table is tagged pii=true"
    )
    assert why("{domain: [risk, ops]}", facts()) == (
        "the owning domain is consumer_banking, not risk or ops"
    )
    assert why("{requester_role: member}", facts()) == "the requester's role is member"
    assert why("{columns_any: [email, phone]}", facts()) == (
        "the request includes none of email, phone"
    )
    assert why("{columns_any: [iban, age]}", facts()) == "the request includes columns iban, age"
    assert why("{duration_max: 30d}", facts(duration=timedelta(hours=36))) == (
        "the expiry asked, 36h, is at most 30d"
    )
    assert why("{duration_max: 30d}", facts()) == "no expiry was asked (duration_max 30d)"
    assert why("{duration_over: 90d}", facts()) == "no expiry was asked, which counts as over 90d"
    assert why("{no_duration: true}", facts(duration=timedelta(weeks=2))) == (
        "an expiry of 2w was asked"
    )
    assert why("{all_columns: false}", facts()) == "the request names no columns"
    assert why("{domain: consumer_banking, no_duration: true}", facts()) == (
        "the owning domain is consumer_banking, no expiry was asked"
    )
    assert one(None).evaluate(facts()).explanation == (
        "rule r (line 2) applies: it has no conditions",
    )
    many = facts(
        columns=tuple(f"c{i}" for i in range(8)), column_tags={f"c{i}": PII for i in range(8)}
    )
    assert why('{tagged: {pii: "true"}}', many) == (
        "columns c0, c1, c2, c3, c4 and 3 more are tagged pii=true"
    )


# --------------------------------------------------------------------------- actions


def test_approve() -> None:
    outcome = one(None, "approve").evaluate(facts())
    assert (outcome.kind, outcome.rule, outcome.exclude_columns, outcome.row_filter) == (
        "approve",
        "r",
        (),
        None,
    )
    assert outcome.route_to is None
    assert outcome.approvals == 0


def test_approve_without_the_tagged_columns() -> None:
    rules = one(None, '{approve: {exclude_tagged: {pii: "true"}}}')
    outcome = rules.evaluate(facts())
    assert outcome.kind == "approve"
    assert outcome.exclude_columns == ("customer_id", "iban")
    assert describe(outcome) == "auto-approved by rule r without customer_id, iban"
    assert rules.evaluate(some("age")).exclude_columns == ()  # nothing tagged, nothing left out


def test_approve_without_listed_columns_resolves_them_against_the_request() -> None:
    rules = one(None, "{approve: {exclude_columns: [amount, email, iban]}}")
    assert rules.evaluate(facts()).exclude_columns == ("iban", "amount")
    assert rules.evaluate(some("age", "amount")).exclude_columns == ("amount",)


def test_approve_with_both_exclusions_and_a_row_filter() -> None:
    then = (
        '{approve: {exclude_tagged: {pii: "true"}, exclude_columns: [amount],'
        " row_filter: \"region = 'EU'\"}}"
    )
    outcome = one(None, then).evaluate(facts())
    assert outcome.kind == "approve"
    assert outcome.exclude_columns == ("customer_id", "iban", "amount")
    assert outcome.row_filter == "region = 'EU'"
    assert describe(outcome) == (
        "auto-approved by rule r without customer_id, iban, amount with a row filter"
    )


def test_an_exclusion_that_would_leave_no_column_routes_to_the_stewards() -> None:
    rules = one('{tagged: {pii: "true"}}', '{approve: {exclude_tagged: {pii: "true"}}}')
    outcome = rules.evaluate(some("iban", "customer_id"))
    assert (outcome.kind, outcome.rule, outcome.route_to, outcome.approvals) == (
        "route",
        "r",
        "stewards",
        1,
    )
    assert outcome.exclude_columns == ()
    assert outcome.explanation == (
        "rule r (line 2) applies: columns iban, customer_id are tagged pii=true; but approving"
        " without columns iban, customer_id would leave no column, so the request goes to"
        " the stewards",
    )
    listed = one(None, "{approve: {exclude_columns: [age]}}").evaluate(some("age", "age"))
    assert listed.kind == "route"


def test_route_to_the_admins_or_to_named_approvers() -> None:
    admins = one(None, "{route: admins}").evaluate(facts())
    assert (admins.kind, admins.route_to, admins.approvals, admins.offer_exclude) == (
        "route",
        "admins",
        1,
        (),
    )
    assert describe(admins) == "routed to the admins of consumer_banking by rule r (1 approval)"
    named = one(None, "{route: [bo@risk, cy@risk, di@ops], approvals: 2}").evaluate(facts())
    assert named.route_to == ("bo@risk", "cy@risk", "di@ops")
    assert named.approvals == 2
    assert describe(named) == "routed to bo@risk, cy@risk, di@ops by rule r (2 approvals)"
    single = one(None, "{route: bo@risk}").evaluate(facts())
    assert single.route_to == ("bo@risk",)


def test_route_offers() -> None:
    explicit = one(None, "{route: stewards, offer_tags: {pii: 'true'}}").evaluate(facts())
    assert explicit.offer_exclude == ("customer_id", "iban")
    from_condition = one("{tagged: {pii: '*'}}", "{route: stewards, offer: exclude-tagged}")
    # "pii: *" matches every column here, so the offer would grant nothing: none is made
    assert from_condition.evaluate(facts()).offer_exclude == ()
    assert from_condition.evaluate(facts(column_tags={"iban": PII})).offer_exclude == ("iban",)
    none = one('{tagged: {pii: "true"}}', "{route: stewards, offer: none}")
    assert none.evaluate(facts()).offer_exclude == ()
    assert "offers" not in describe(none.evaluate(facts()))


def test_reject() -> None:
    plain = one(None, "reject").evaluate(facts())
    assert (plain.kind, plain.comment) == ("reject", None)
    assert describe(plain) == "rejected by rule r"
    commented = one(None, r'{reject: {comment: "use the\n  aggregated view"}}').evaluate(facts())
    assert commented.comment == "use the\n  aggregated view"
    assert describe(commented) == "rejected by rule r: use the aggregated view"
    assert one(None, "{reject: }").evaluate(facts()).kind == "reject"
    assert one(None, "{approve: }").evaluate(facts()).kind == "approve"


def test_no_rule_applying_routes_to_the_stewards_of_the_owning_domain() -> None:
    outcome = one("{domain: risk}", "approve").evaluate(facts())
    assert outcome == Outcome(
        rule=None,
        kind="route",
        domain="consumer_banking",
        route_to="stewards",
        approvals=1,
        explanation=(
            "rule r (line 2) does not apply: the owning domain is consumer_banking, not risk",
            "no rule applies: the request goes to the stewards of the owning domain",
        ),
    )
    assert describe(outcome) == (
        "routed to the stewards of consumer_banking, as no rule applied (1 approval)"
    )


def test_the_first_rule_that_applies_wins() -> None:
    rules = load(
        """\
        rules:
          - name: risk-only
            when: {requester_domain: risk}
            then: approve
          - name: short-pii
            when: {tagged: {pii: "true"}, duration_max: 7d}
            then: {route: admins}
          - name: any-pii
            when: {tagged: {pii: "true"}}
            then: reject
          - name: everything
            then: approve
        """
    )
    short = rules.evaluate(facts(duration=timedelta(days=3)))
    assert (short.rule, short.kind, short.route_to) == ("short-pii", "route", "admins")
    assert [line.split(" (")[0] for line in short.explanation] == [
        "rule risk-only",
        "rule short-pii",
    ]
    assert rules.evaluate(facts()).rule == "any-pii"
    assert rules.evaluate(some("age")).rule == "everything"
    assert rules.evaluate(facts(requester_domain="risk")).rule == "risk-only"
    assert [r.line for r in rules.rules] == [2, 5, 8, 11]


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 30 d ", timedelta(days=30)),
    ],
)
def test_durations_use_the_grant_syntax(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "1.5d", "-3d", "0d", "30D", "9" * 30 + "w"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="invalid duration"):
        parse_duration(text)


def test_durations_are_shown_in_their_largest_whole_unit() -> None:
    assert duration_text(timedelta(days=14)) == "2w"
    assert duration_text(timedelta(hours=36)) == "36h"
    assert duration_text(timedelta(seconds=90)) == "90s"
    assert duration_text(timedelta(seconds=1.5)) == "1.5s"
    assert duration_text(timedelta(days=-2)) == "-2d"
    assert duration_text(timedelta(0)) == "0s"
    assert duration_text(timedelta.min).startswith("-")
    assert duration_text(timedelta.max).endswith("s")


# --------------------------------------------------------------------------- refusals


def r(*lines: str) -> str:
    """A file of one rule ``r`` whose body is ``lines`` (indented under ``- name: r``)."""
    return "rules:\n  - name: r\n" + "".join(f"    {line}\n" for line in lines)


#: Each file marks the line the refusal must name with "# <-".
REFUSALS = [
    ("not valid YAML", r("then: approve", "  when: {}  # <-")),
    ("not valid YAML", r("then: approve", "\twhen: {}  # <-")),
    ("not valid YAML", r("then: approve") + "---  # <-\nrules: []\n"),
    ("the file is empty", "# <-\n"),
    ("the file must be a mapping", "- name: r  # <-\n  then: approve\n"),
    ("unknown key 'rule' in the file", "version: 1\nrule:  # <-\n  - name: r\n"),
    ("'version' must be 1", "version: 2  # <-\nrules:\n  - {name: r, then: approve}\n"),
    ("missing 'rules'", "version: 1  # <-\n"),
    ("'rules' must be a list", "rules:  # <-\n  name: r\n  then: approve\n"),
    ("'rules' must be a list", "rules: []  # <-\n"),
    ("a rule must be a mapping", "rules:\n  - approve  # <-\n"),
    ("unknown key 'when_' in a rule", r("when_: {}  # <-", "then: approve")),
    ("'then' is given twice", r("then: approve", "then: reject  # <-")),
    ("the rule has no 'name'", "rules:\n  - then: approve  # <-\n"),
    ("has no 'then'", "rules:\n  - name: r  # <-\n    when: {domain: risk}\n"),
    ("'name' must be a string", "rules:\n  - name: [r]  # <-\n    then: approve\n"),
    ("is not of the form", "rules:\n  - name: Auto Approve  # <-\n    then: approve\n"),
    ("is not of the form", "rules:\n  - name: -r  # <-\n    then: approve\n"),
    ("is not of the form", f"rules:\n  - name: {'r' * 64}  # <-\n    then: approve\n"),
    (
        "'r' is already defined at line 2",
        r("then: approve") + "  - name: r  # <-\n    then: reject\n",
    ),
    ("'description' must be a string", r("description: [a]  # <-", "then: approve")),
    ("'description' must not be empty", r("description: ''  # <-", "then: approve")),
    # conditions
    ("unknown key 'taged' in 'when'", r("when:", "  taged: {pii: x}  # <-", "then: approve")),
    ("'when' must be a mapping", r("when: [domain]  # <-", "then: approve")),
    ("'when' is empty", r("when:  # <-", "then: approve")),
    ("'domain' is given twice", r("when:", "  domain: a_b", "  domain: c_d  # <-", "then: x")),
    ("'tagged' must be a mapping of tags", r("when:", "  tagged: [pii]  # <-", "then: x")),
    ("'tagged' must be a mapping of tags", r("when:", "  tagged: {}  # <-", "then: x")),
    ("'tagged' must be a mapping of tags", r("when:", "  tagged:  # <-", "  - pii", "then: x")),
    ("'PII' is not a tag key", r("when:", "  not_tagged:", "    PII: 'true'  # <-", "then: x")),
    ("'tagged' pii: 'a b' is not a tag value", r("when:", "  tagged:", "    pii: a b  # <-")),
    ("'tagged' pii must be a name or a list", r("when:", "  tagged:", "    pii:  # <-")),
    ("'domain': 'Risk' is not a domain name", r("when:", "  domain: [ops, Risk]  # <-")),
    ("'domain' must be a name or a list", r("when:", "  domain: {a: b}  # <-")),
    ("'domain': 'ops' is listed twice", r("when:", "  domain:", "  - ops", "  - ops  # <-")),
    (
        "'requester_role': 'owner' is not admin or steward or member",
        r("when: {requester_role: owner}  # <-", "then: approve"),
    ),
    ("'requester_domain': a collection is not", r("when:", "  requester_domain: [[ops]]  # <-")),
    ("'columns_any': 'Full Name' is not a column", r("when:", "  columns_any: [Full Name]  # <-")),
    ("'all_columns' must be true or false", r("when:", "  all_columns: maybe  # <-")),
    ("'no_duration' must be true or false", r("when:", "  no_duration: [true]  # <-")),
    ("'duration_max': invalid duration '30x'", r("when:", "  duration_max: 30x  # <-")),
    ("'duration_over': invalid duration '90'", r("when:", "  duration_over: 90  # <-")),
    ("longer than zero", r("when:", "  duration_max: 0d  # <-")),
    ("too long", r("when:", f"  duration_max: {'9' * 20}w  # <-")),
    ("must be a duration such as 30d", r("when:", "  duration_max:  # <-")),
    # actions
    ("'then' must be approve, reject, or a mapping", r("then: allow  # <-")),
    ("'then' must be approve, reject, or a mapping", r("then: [approve]  # <-")),
    ("'then' gives approve and reject; choose one", r("then:", "  approve:", "  reject:  # <-")),
    ("unknown key 'accept' in 'then'", r("then:", "  accept: {}  # <-")),
    ("unknown key 'approvals' in 'then'", r("then:", "  approve:", "  approvals: 2  # <-")),
    ("unknown key 'exclude' in 'approve'", r("then:", "  approve:", "    exclude: [a]  # <-")),
    ("'approve' is empty", r("then:", "  approve: {}  # <-")),
    ("'row_filter' must not be empty", r("then:", "  approve:", "    row_filter: ' '  # <-")),
    ("'row_filter' must be a string", r("then:", "  approve:", "    row_filter:  # <-")),
    (
        "'row_filter' is longer than 4000 characters",
        r("then:", "  approve:", f"    row_filter: '{'x' * 4001}'  # <-"),
    ),
    (
        "'exclude_columns': 'IBAN' is not a column name",
        r("then:", "  approve:", "    exclude_columns: [IBAN]  # <-"),
    ),
    (
        "'exclude_tagged' must be a mapping of tags",
        r("then:", "  approve:", "    exclude_tagged: pii  # <-"),
    ),
    (
        "unknown key 'approvers' in a route action",
        r("then:", "  route: stewards", "  approvers: 2  # <-"),
    ),
    ("'route' must be stewards, admins or a list", r("then:", "  route:  # <-")),
    ("'route': 'owners' is not stewards, admins or user@domain", r("then: {route: owners}  # <-")),
    (
        "'route': 'bo@risk' is listed twice",
        r("then:", "  route:", "  - bo@risk", "  - bo@risk  # <-"),
    ),
    ("'approvals' must be between 1 and 10", r("then: {route: admins, approvals: 0}  # <-")),
    (
        "'approvals' must be between 1 and 10",
        r("then:", "  route: admins", "  approvals: 11  # <-"),
    ),
    ("'approvals' must be a whole number", r("then:", "  route: admins", "  approvals: two  # <-")),
    ("'approvals' must be a whole number", r("then:", "  route: admins", "  approvals: 1.5  # <-")),
    (
        "'approvals' is 3 but 'route' names only 2 approvers",
        r("then:", "  route: [bo@risk, cy@risk]", "  approvals: 3  # <-"),
    ),
    ("'offer' must be exclude-tagged or none", r("then:", "  route: admins", "  offer: all  # <-")),
    (
        "'offer: exclude-tagged' needs 'offer_tags' or a 'tagged' condition",
        r("then:", "  route: stewards", "  offer: exclude-tagged  # <-"),
    ),
    (
        "'offer' is none but 'offer_tags' is given",
        r("then:", "  route: stewards", "  offer: none  # <-", "  offer_tags: {pii: 'true'}"),
    ),
    ("'reject' takes a 'comment'", r("then:", "  reject: {}  # <-")),
    ("unknown key 'reason' in 'reject'", r("then:", "  reject:", "    reason: no  # <-")),
    ("'comment' must not be empty", r("then:", "  reject:", "    comment: ''  # <-")),
]


@pytest.mark.parametrize(("what", "text"), REFUSALS)
def test_every_refusal_names_its_line(what: str, text: str) -> None:
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "# <-" in row)
    with pytest.raises(InvalidInput) as refused:
        load_rules(text, "team/rules.yaml")
    message = str(refused.value)
    assert message.startswith(f"team/rules.yaml, line {line}: "), message
    assert what in message
    assert "\n" not in message


def test_limits_are_refused_at_the_line_that_crosses_them() -> None:
    rule = "  - name: r{i}\n    then: approve\n"
    text = "rules:\n" + "".join(rule.format(i=i) for i in range(MAX_RULES + 1))
    with pytest.raises(InvalidInput, match=rf"line {2 + 2 * MAX_RULES}: more than 200 rules"):
        load_rules(text)
    load_rules("rules:\n" + "".join(rule.format(i=i) for i in range(MAX_RULES)))

    names = ", ".join(f"c{i}" for i in range(MAX_NAMES + 1))
    with pytest.raises(InvalidInput, match="line 3: 'columns_any' lists more than 100 names"):
        load_rules(
            f"rules:\n  - name: r\n    when: {{columns_any: [{names}]}}\n    then: approve\n"
        )
    tags = ", ".join(f"k{i}: v" for i in range(MAX_NAMES + 1))
    with pytest.raises(InvalidInput, match="line 3: 'tagged' has more than 100 tags"):
        load_rules(f"rules:\n  - name: r\n    when: {{tagged: {{{tags}}}}}\n    then: approve\n")

    padding = "# " + "x" * 98 + "\n"
    huge = padding * (MAX_TEXT // len(padding) + 1) + "rules: []\n"
    expected = MAX_TEXT // len(padding) + 1
    with pytest.raises(InvalidInput, match=rf"line {expected}: the file is longer than"):
        load_rules(huge)


def test_long_values_are_cut_short_in_a_refusal() -> None:
    with pytest.raises(InvalidInput) as refused:
        load_rules(f"rules:\n  - name: {'X' * 5000}\n    then: approve\n")
    assert len(str(refused.value)) < 200


def test_yaml_tags_and_aliases_run_nothing() -> None:
    text = (
        "rules:\n"
        "  - name: r\n"
        "    when: &w {domain: consumer_banking}\n"
        "    then: approve\n"
        "  - name: s\n"
        "    when: *w\n"
        "    then: !!python/object/apply:os.system [reject]\n"
    )
    with pytest.raises(InvalidInput, match="line 7: 'then' must be approve"):
        load_rules(text)


# --------------------------------------------------------------------------- explanations


def test_explanations_never_show_row_filters_comments_descriptions_or_the_requester() -> None:
    rules = load(
        """\
        rules:
          - name: a
            description: SECRET-DESCRIPTION
            when: {columns_any: [secret_col_not_requested]}
            then: {approve: {row_filter: "region = 'SECRET-LITERAL'"}}
          - name: b
            when: {requester_domain: analytics}
            then: {reject: {comment: SECRET-COMMENT}}
        """
    )
    request = facts(requester="secret_user@analytics")
    outcome = rules.evaluate(request)
    assert outcome.comment == "SECRET-COMMENT"
    text = " ".join(outcome.explanation)
    for secret in ("SECRET", "secret_user"):
        assert secret not in text


# --------------------------------------------------------------------------- properties

COLUMNS = ("customer_id", "iban", "age", "amount", "region", "email")
TAG_KEYS = ("pii", "secret", "region")
TAG_VALUES = ("true", "false", "eu")
DOMAINS = ("consumer_banking", "investment_banking", "analytics")

#: Few keys and values, so that rules and requests meet often.
tag_maps = st.dictionaries(st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), max_size=2)


@st.composite
def request_facts(draw: st.DrawFn) -> RequestFacts:
    everything = draw(st.booleans())
    columns = COLUMNS if everything else tuple(draw(st.lists(st.sampled_from(COLUMNS), max_size=8)))
    return RequestFacts(
        table="consumer_banking.curated.credit_profile",
        domain=draw(st.sampled_from(DOMAINS)),
        requester="secret_user@analytics",
        requester_domain=draw(st.sampled_from(DOMAINS)),
        requester_role=draw(st.sampled_from((*ROLES, "auditor"))),
        columns=columns,
        all_columns=everything,
        column_tags={column: draw(tag_maps) for column in COLUMNS if draw(st.integers(0, 4))},
        table_tags=draw(tag_maps),
        duration=draw(st.none() | st.timedeltas()),
    )


tag_specs = st.dictionaries(
    st.sampled_from(TAG_KEYS),
    st.sampled_from((*TAG_VALUES, "*"))
    | st.lists(st.sampled_from(TAG_VALUES), min_size=1, unique=True),
    min_size=1,
    max_size=2,
)
durations = st.sampled_from(("45s", "90m", "12h", "7d", "30d", "2w"))


def names_of(values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True)


CONDITION_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "tagged": tag_specs,
    "not_tagged": tag_specs,
    "domain": names_of(DOMAINS),
    "requester_domain": names_of(DOMAINS),
    "requester_role": names_of(ROLES),
    "columns_any": names_of(COLUMNS),
    "all_columns": st.booleans(),
    "duration_max": durations,
    "duration_over": durations,
    "no_duration": st.booleans(),
}
APPROVE_OPTIONS: dict[str, st.SearchStrategy[Any]] = {
    "exclude_tagged": tag_specs,
    "exclude_columns": names_of(COLUMNS),
    "row_filter": st.just("region = 'SECRET-LITERAL'"),
}
principals = st.lists(st.sampled_from(("bo@risk", "cy@risk", "di@ops")), min_size=1, unique=True)


def some_of(draw: st.DrawFn, values: dict[str, st.SearchStrategy[Any]], most: int) -> Any:
    """A few of the keys (so that rules apply often), each with a drawn value."""
    keys = draw(st.lists(st.sampled_from(list(values)), max_size=most, unique=True))
    return {key: draw(values[key]) for key in keys}


@st.composite
def actions(draw: st.DrawFn) -> object:
    kind = draw(st.sampled_from(("approve", "approve-with", "route", "reject", "reject-with")))
    if kind in ("approve", "reject"):
        return kind
    if kind == "reject-with":
        return {"reject": {"comment": "SECRET-COMMENT"}}
    if kind == "approve-with":
        return {"approve": some_of(draw, APPROVE_OPTIONS, 3) or None}
    to = draw(st.sampled_from(("stewards", "admins")) | principals)
    action: dict[str, object] = {"route": to}
    limit = len(to) if isinstance(to, list) else 10
    action["approvals"] = draw(st.integers(1, limit))
    if draw(st.booleans()):
        action["offer_tags"] = draw(tag_specs)
    return action


@st.composite
def rule_files(draw: st.DrawFn) -> str:
    rules = []
    for i in range(draw(st.integers(1, 5))):
        rule: dict[str, object] = {"name": f"rule-{i}", "description": "SECRET-DESCRIPTION"}
        when = some_of(draw, CONDITION_VALUES, 2)
        if when:
            rule["when"] = when
        rule["then"] = draw(actions())
        rules.append(rule)
    return yaml.safe_dump({"version": 1, "rules": rules}, sort_keys=False)


#: Every word an explanation may use besides names, tags, numbers and durations.
PHRASES = (
    "rule line applies does not apply it has no conditions",
    "column columns is are tagged and more the table no requested neither a nor",
    "the owning domain requester's role or request includes none of names",
    "an expiry was asked at most over which counts as duration_max",
    "but approving without would leave so goes to stewards",
)
WORDS = frozenset(word for phrase in PHRASES for word in phrase.split())
DURATION_TOKEN = re.compile(r"-?[0-9.e+-]+[smhdw]")


def tokens(line: str) -> list[str]:
    return [t for t in re.split(r"[\s,;:()=|]+", line) if t]


PROPERTY = settings(max_examples=250, deadline=None)


def left_out_by(action: Approve, request: RequestFacts) -> set[str]:
    """The requested columns an approval must not grant, worked out afresh."""
    tagged = action.exclude_tagged
    return {
        column
        for column in request.columns
        if column in action.exclude_columns
        or (tagged is not None and tagged.matches(request.column_tags.get(column, {})))
    }


def check_approval(outcome: Outcome, action: Approve, request: RequestFacts) -> None:
    """What an approve outcome grants (the requested columns minus ``exclude_columns``)
    holds no column the action excludes, and is not empty when it excludes any."""
    excluded = set(outcome.exclude_columns)
    assert len(excluded) == len(outcome.exclude_columns)
    assert excluded == left_out_by(action, request)
    granted = set(request.columns) - excluded
    assert granted or not excluded, "an approval that excludes every column must route instead"
    assert not granted & left_out_by(action, request)
    assert outcome.row_filter == action.row_filter


@PROPERTY
@given(rule_files(), request_facts())
def test_evaluation_never_raises_and_outcomes_are_consistent(
    text: str, request: RequestFacts
) -> None:
    rules = load_rules(text)
    outcome = rules.evaluate(request)
    by_name = {r.name: r for r in rules.rules}
    looked = len(outcome.explanation)
    if outcome.rule is None:
        assert looked == len(rules.rules) + 1
        assert (outcome.kind, outcome.route_to) == ("route", "stewards")
    else:
        assert looked == list(by_name).index(outcome.rule) + 1
    assert isinstance(describe(outcome), str)
    action = by_name[outcome.rule].action if outcome.rule else None
    if outcome.kind == "approve":
        assert isinstance(action, Approve)
        check_approval(outcome, action, request)
    if outcome.kind == "route":
        assert 1 <= outcome.approvals <= 10
        assert set(outcome.offer_exclude) <= set(request.columns)
        assert not outcome.offer_exclude or set(outcome.offer_exclude) != set(request.columns)
        if isinstance(action, Route) and isinstance(action.to, tuple):
            assert outcome.approvals <= len(action.to)
        if isinstance(action, Approve):  # its exclusions would have left nothing
            assert left_out_by(action, request) == set(request.columns)


exclusions = st.fixed_dictionaries(
    {
        "exclude_tagged": st.dictionaries(
            st.sampled_from(TAG_KEYS), st.sampled_from(TAG_VALUES), min_size=1, max_size=1
        )
    },
    optional={"exclude_columns": names_of(COLUMNS), "row_filter": st.just("x > 1")},
)


@PROPERTY
@given(exclusions, request_facts())
def test_an_approval_never_grants_an_excluded_column(
    options: dict[str, Any], request: RequestFacts
) -> None:
    text = yaml.safe_dump({"rules": [{"name": "r", "then": {"approve": options}}]})
    rules = load_rules(text)
    action = rules.rules[0].action
    assert isinstance(action, Approve)
    outcome = rules.evaluate(request)
    if outcome.kind == "approve":
        check_approval(outcome, action, request)
    else:
        assert (outcome.kind, outcome.route_to) == ("route", "stewards")
        assert left_out_by(action, request) == set(request.columns) != set()
        assert "would leave no column" in outcome.explanation[0]


@PROPERTY
@given(rule_files(), request_facts())
def test_explanations_hold_only_names_tags_numbers_and_durations(
    text: str, request: RequestFacts
) -> None:
    rules = load_rules(text)
    outcome = rules.evaluate(request)
    allowed = set(WORDS) | {r.name for r in rules.rules} | set(COLUMNS) | set(TAG_KEYS)
    allowed |= {*TAG_VALUES, "*", *DOMAINS, *ROLES, "auditor"}
    for line in outcome.explanation:
        assert "SECRET" not in line and "secret_user" not in line
        for token in tokens(line):
            assert token in allowed or token.isdigit() or DURATION_TOKEN.fullmatch(token), (
                f"{token!r} in {line!r}"
            )


def test_evaluation_of_the_largest_file_stays_fast() -> None:
    """200 rules of 100-name lists against a 100-column request: the worst a file allows."""
    names = ", ".join(f"c{i}" for i in range(1000, 1000 + MAX_NAMES))
    tags = ", ".join(f"k{i}: v" for i in range(MAX_NAMES))
    rule = f"    when: {{columns_any: [{names}], not_tagged: {{{tags}}}}}\n    then: approve\n"
    rules = load_rules("rules:\n" + "".join(f"  - name: r{i}\n{rule}" for i in range(MAX_RULES)))
    wide = facts(
        columns=tuple(f"c{i}" for i in range(100)),
        column_tags={f"c{i}": {f"k{j}": "v" for j in range(50)} for i in range(100)},
    )
    start = time.perf_counter()
    outcome = rules.evaluate(wide)
    elapsed = time.perf_counter() - start
    assert outcome.rule is None and len(outcome.explanation) == MAX_RULES + 1
    assert elapsed < 0.5, f"{elapsed:.3f}s"


def test_tag_sets_match_like_tag_expressions() -> None:
    both = TagSet((("pii", frozenset({"true"})), ("region", None)))
    assert both.matches({"pii": "true", "region": "eu"})
    assert not both.matches({"pii": "true"})
    assert not both.matches({"pii": "false", "region": "eu"})
    assert str(both) == "pii=true, region=*"
