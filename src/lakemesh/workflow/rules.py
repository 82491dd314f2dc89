"""Declarative approval rules: what happens to an access request, decided by a YAML file.

    rules:
      - name: no-pii-auto-approve
        when: {not_tagged: {pii: "true"}}
        then: approve
      - name: pii-to-stewards
        when: {tagged: {pii: "true"}}
        then: {route: stewards, offer: exclude-tagged}

The first rule whose conditions all hold decides; a request no rule decides goes to the
stewards of the domain that owns the table. Evaluation is pure computation over the
``RequestFacts`` it is handed (no store, no engine), so ``lakemesh rules test`` and the
request workflow get the same answer, and a rule file can be checked before it is used.
The file cannot make evaluation slow: at most 200 rules and 100 names per list, each
condition a set lookup or a pass over the requested columns. Every refusal is one
``InvalidInput`` line naming the file and the line.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypeAlias

import yaml

from lakemesh.errors import InvalidInput
from lakemesh.typedef import DOMAIN_NAME, OBJECT_NAME

MAX_RULES = 200
MAX_NAMES = 100
MAX_TEXT = 1 << 20
MAX_ROW_FILTER = 4000
MAX_DESCRIPTION = 1000
MAX_COMMENT = 2000
MAX_APPROVALS = 10
ROLES = ("admin", "steward", "member")

_RULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
# The tag vocabulary's own key and value forms (lakemesh.access.tags), and "*" for any value.
_TAG_KEY = re.compile(r"[a-z][a-z0-9_]{0,127}")
_TAG_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}")
_TAG_VALUE_OR_ANY = re.compile(rf"\*|{_TAG_VALUE.pattern}")
_PRINCIPAL = re.compile(rf"(?:{OBJECT_NAME.pattern})@(?:{DOMAIN_NAME.pattern})")
_ROLE = re.compile("|".join(ROLES))
# The grant expiry syntax (lakemesh.access.grants): a count and one unit.
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_NULL = "tag:yaml.org,2002:null"
#: libyaml's composer when PyYAML was built with it (several times faster on a full file).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_NO_TAGS: Mapping[str, str] = {}

DEFAULT_RULES = """\
# lakemesh approval rules (the default). Copy this file, edit it, check it with
# `lakemesh rules validate FILE` and try it with `lakemesh rules test FILE --request ...`.
#
# Rules are looked at in order; the first whose `when` holds decides (`then`). A request
# that no rule decides goes to the stewards of the domain that owns the table.
#
# when (every condition must hold; a rule without `when` always applies):
#   tagged: {key: value}          a requested column, or the table, carries all these tags
#                                 (value "*": any value; a list of values: any of them)
#   not_tagged: {key: value}      no requested column carries all these tags
#   domain: name | [names]        the domain that owns the table
#   requester_domain: name | [names]
#   requester_role: admin | steward | member | [roles]
#   columns_any: [names]          the request includes one of these columns
#   all_columns: true | false     the request named no columns (it asks for all of them)
#   duration_max: 30d             an expiry was asked and is at most this (s, m, h, d, w)
#   duration_over: 90d            the expiry asked is longer (no expiry counts as longer)
#   no_duration: true | false     no expiry was asked
#
# then (one action):
#   approve
#   approve: {exclude_tagged: {pii: "true"}, exclude_columns: [a, b], row_filter: "..."}
#                                 (if the exclusions leave no column, the request goes to
#                                 the stewards instead)
#   route: stewards | admins | [user@domain, ...]
#     approvals: 2                how many different approvers must approve (default 1)
#     offer: exclude-tagged       let approvers grant all but the tagged columns in one click
#     offer_tags: {pii: "true"}   which tags that offer leaves out (default: the `tagged`
#                                 condition's)
#   reject | reject: {comment: "..."}
version: 1
rules:
  - name: no-pii-auto-approve
    description: a request that touches no column tagged pii=true is approved at once
    when:
      not_tagged: {pii: "true"}
    then: approve

  - name: pii-to-stewards
    description: >-
      a request for pii=true columns goes to the stewards of the owning domain, who can
      approve it in full, or without those columns in one click
    when:
      tagged: {pii: "true"}
    then:
      route: stewards
      offer: exclude-tagged
"""


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``: the grant expiry syntax, positive."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        raise InvalidInput(
            f"invalid duration {_shown(text)}: expected a count and a unit, e.g. 30d, 12h, 90m, "
            "2w, 45s"
        )
    try:
        count = int(m.group(1))
    except ValueError:  # more digits than int() reads
        raise InvalidInput(f"invalid duration {_shown(text)}: too long") from None
    if count == 0:
        raise InvalidInput(f"invalid duration {_shown(text)}: it must be longer than zero")
    try:
        return timedelta(seconds=count * _UNITS[m.group(2)])
    except OverflowError:
        raise InvalidInput(f"invalid duration {_shown(text)}: too long") from None


def _shown(text: str, limit: int = 60) -> str:
    """A value from the file quoted for an error line, cut short: a refusal stays one line."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def duration_text(value: timedelta) -> str:
    """A duration in the syntax the rules use, in its largest whole unit (``30d``, ``36h``),
    for explanations; never raises, whatever the timedelta."""
    micros = (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    if micros % 1_000_000:
        return f"{sign}{micros / 1_000_000:g}s"
    seconds = micros // 1_000_000
    for unit, size in _UNITS.items():
        if seconds and seconds % size == 0:
            return f"{sign}{seconds // size}{unit}"
    return "0s"


# --------------------------------------------------------------------------- facts, outcome


@dataclass(frozen=True)
class RequestFacts:
    """What a rule may look at: the request and the catalog's tags, resolved by the caller.
    Nothing here is a data value, so nothing a rule explains can leak one."""

    table: str
    domain: str
    requester: str
    requester_domain: str
    requester_role: str
    columns: tuple[str, ...]
    all_columns: bool
    column_tags: Mapping[str, Mapping[str, str]]
    table_tags: Mapping[str, str]
    duration: timedelta | None


RouteTo: TypeAlias = Literal["stewards", "admins"] | tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What the rules decided for one request, and why (one line per rule looked at)."""

    rule: str | None
    kind: Literal["approve", "route", "reject"]
    #: The owning domain: whose stewards or admins a route goes to.
    domain: str
    exclude_columns: tuple[str, ...] = ()
    row_filter: str | None = None
    route_to: RouteTo | None = None
    approvals: int = 0
    offer_exclude: tuple[str, ...] = ()
    comment: str | None = None
    explanation: tuple[str, ...] = ()


def describe(outcome: Outcome) -> str:
    """The outcome as one readable line, for a ticket's history and the CLI."""
    by = f" by rule {outcome.rule}" if outcome.rule else ", as no rule applied"
    if outcome.kind == "approve":
        text = f"auto-approved{by}"
        if outcome.exclude_columns:
            text += f" without {', '.join(outcome.exclude_columns)}"
        if outcome.row_filter is not None:
            text += " with a row filter"
        return text
    if outcome.kind == "reject":
        comment = " ".join((outcome.comment or "").split())
        return f"rejected{by}" + (f": {comment}" if comment else "")
    to = outcome.route_to
    whom = ", ".join(to) if isinstance(to, tuple) else f"the {to or 'stewards'} of {outcome.domain}"
    notes = [f"{outcome.approvals} approval{'s' if outcome.approvals != 1 else ''}"]
    if outcome.offer_exclude:
        notes.append(f"offers approval without {', '.join(outcome.offer_exclude)}")
    return f"routed to {whom}{by} ({'; '.join(notes)})"


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class TagSet:
    """Tags a rule names. A column (or table) matches when it carries every key with one
    of its values (``None``: any value), as a grant's tag expression does: keys AND,
    values OR."""

    items: tuple[tuple[str, frozenset[str] | None], ...]

    def matches(self, tags: Mapping[str, str]) -> bool:
        for key, values in self.items:
            value = tags.get(key)
            if value is None or (values is not None and value not in values):
                return False
        return True

    def columns(self, facts: RequestFacts) -> tuple[str, ...]:
        """The requested columns that match, in request order, each once."""
        tags = facts.column_tags
        return tuple(c for c in dict.fromkeys(facts.columns) if self.matches(tags.get(c, _NO_TAGS)))

    def __str__(self) -> str:
        return ", ".join(
            f"{key}={'|'.join(sorted(values)) if values is not None else '*'}"
            for key, values in self.items
        )


def _columns_text(columns: Sequence[str], limit: int = 5) -> str:
    head = ", ".join(columns[:limit])
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return f"column{'s' if len(columns) > 1 else ''} {head}{more}"


def _are(columns: Sequence[str]) -> str:
    return "are" if len(columns) > 1 else "is"


@dataclass(frozen=True, slots=True)
class Tagged:
    """``tagged``: some requested column, or the table, carries all the tags."""

    tags: TagSet

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        hits = self.tags.columns(facts)
        if hits:
            return True, f"{_columns_text(hits)} {_are(hits)} tagged {self.tags}"
        if self.tags.matches(facts.table_tags):
            return True, f"the table is tagged {self.tags}"
        return False, f"neither a requested column nor the table is tagged {self.tags}"


@dataclass(frozen=True, slots=True)
class NotTagged:
    """``not_tagged``: no requested column carries all the tags (table tags count only as
    columns inherit them, which the caller has already merged)."""

    tags: TagSet

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        hits = self.tags.columns(facts)
        if hits:
            return False, f"{_columns_text(hits)} {_are(hits)} tagged {self.tags}"
        return True, f"no requested column is tagged {self.tags}"


_SUBJECTS = {
    "domain": "the owning domain",
    "requester_domain": "the requester's domain",
    "requester_role": "the requester's role",
}


@dataclass(frozen=True, slots=True)
class OneOf:
    """``domain``, ``requester_domain``, ``requester_role``: the fact is one of the names."""

    fact: Literal["domain", "requester_domain", "requester_role"]
    names: tuple[str, ...]
    allowed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(self.names))

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        value = getattr(facts, self.fact)
        subject = _SUBJECTS[self.fact]
        if value in self.allowed:
            return True, f"{subject} is {value}"
        return False, f"{subject} is {value}, not {' or '.join(self.names[:5])}" + (
            f" or {len(self.names) - 5} more" if len(self.names) > 5 else ""
        )


@dataclass(frozen=True, slots=True)
class ColumnsAny:
    """``columns_any``: the request includes at least one of the columns."""

    names: tuple[str, ...]
    allowed: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", frozenset(self.names))

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        hits = [c for c in dict.fromkeys(facts.columns) if c in self.allowed]
        if hits:
            return True, f"the request includes {_columns_text(hits)}"
        names = self.names
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        return False, f"the request includes none of {', '.join(names[:5])}{more}"


@dataclass(frozen=True, slots=True)
class AllColumns:
    """``all_columns``: whether the request named no columns (asking for all of them)."""

    value: bool

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        said = "the request names no columns" if facts.all_columns else "the request names columns"
        return facts.all_columns == self.value, said


@dataclass(frozen=True, slots=True)
class NoDuration:
    """``no_duration``: whether the request asked for no expiry."""

    value: bool

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        if facts.duration is None:
            return self.value, "no expiry was asked"
        return not self.value, f"an expiry of {duration_text(facts.duration)} was asked"


@dataclass(frozen=True, slots=True)
class DurationMax:
    """``duration_max``: an expiry was asked and it is at most the limit. A request with no
    expiry asks for access forever, so it never holds."""

    limit: timedelta

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        if facts.duration is None:
            return False, f"no expiry was asked (duration_max {duration_text(self.limit)})"
        asked = duration_text(facts.duration)
        if facts.duration <= self.limit:
            return True, f"the expiry asked, {asked}, is at most {duration_text(self.limit)}"
        return False, f"the expiry asked, {asked}, is over {duration_text(self.limit)}"


@dataclass(frozen=True, slots=True)
class DurationOver:
    """``duration_over``: the expiry asked is longer than the limit; no expiry (forever)
    is longer than any, so an escalation rule cannot be dodged by asking for none."""

    limit: timedelta

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        if facts.duration is None:
            return True, f"no expiry was asked, which counts as over {duration_text(self.limit)}"
        asked = duration_text(facts.duration)
        if facts.duration > self.limit:
            return True, f"the expiry asked, {asked}, is over {duration_text(self.limit)}"
        return False, f"the expiry asked, {asked}, is at most {duration_text(self.limit)}"


Condition: TypeAlias = (
    Tagged | NotTagged | OneOf | ColumnsAny | AllColumns | NoDuration | DurationMax | DurationOver
)


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Approve:
    """Approve at once, leaving out the tagged or listed columns, with an optional row filter
    (kept as text: it is bound to the table's schema where the grant is made)."""

    exclude_tagged: TagSet | None = None
    exclude_columns: tuple[str, ...] = ()
    row_filter: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Send the request to people: the owning domain's stewards or admins, or named users,
    ``approvals`` of whom must approve. ``offer_tags`` lets them approve without the
    columns carrying those tags in one click."""

    to: RouteTo
    approvals: int = 1
    offer_tags: TagSet | None = None


@dataclass(frozen=True, slots=True)
class Reject:
    comment: str | None = None


Action: TypeAlias = Approve | Route | Reject


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """One rule of the file; ``line`` is where it starts, for explanations and errors."""

    name: str
    description: str
    conditions: tuple[Condition, ...]
    action: Action
    line: int

    def test(self, facts: RequestFacts) -> tuple[bool, str]:
        """Whether every condition holds, with the reasons (or the first that does not)."""
        reasons = []
        for condition in self.conditions:
            holds, why = condition.test(facts)
            if not holds:
                return False, why
            reasons.append(why)
        return True, ", ".join(reasons) if reasons else "it has no conditions"

    def decide(self, facts: RequestFacts, why: str, looked: list[str]) -> Outcome:
        head = f"rule {self.name} (line {self.line}) applies: {why}"
        action = self.action
        if isinstance(action, Reject):
            return Outcome(
                self.name,
                "reject",
                facts.domain,
                comment=action.comment,
                explanation=(*looked, head),
            )
        if isinstance(action, Route):
            offer: tuple[str, ...] = ()
            if action.offer_tags is not None:
                offer = action.offer_tags.columns(facts)
                if len(offer) == len(set(facts.columns)):
                    offer = ()  # approving without them would grant nothing
            return Outcome(
                self.name,
                "route",
                facts.domain,
                route_to=action.to,
                approvals=action.approvals,
                offer_exclude=offer,
                explanation=(*looked, head),
            )
        left_out = dict.fromkeys(
            action.exclude_tagged.columns(facts) if action.exclude_tagged else ()
        )
        if action.exclude_columns:
            listed = frozenset(action.exclude_columns)
            left_out.update(dict.fromkeys(c for c in facts.columns if c in listed))
        excluded = tuple(left_out)
        if excluded and len(excluded) == len(set(facts.columns)):
            head += (
                f"; but approving without {_columns_text(excluded)} would leave no column,"
                " so the request goes to the stewards"
            )
            return Outcome(
                self.name,
                "route",
                facts.domain,
                route_to="stewards",
                approvals=1,
                explanation=(*looked, head),
            )
        return Outcome(
            self.name,
            "approve",
            facts.domain,
            exclude_columns=excluded,
            row_filter=action.row_filter,
            explanation=(*looked, head),
        )


_DEFAULT_LINE = "no rule applies: the request goes to the stewards of the owning domain"


@dataclass(frozen=True)
class RuleSet:
    """A checked rule file. ``digest`` (sha256 of ``text``) identifies the exact rules a
    decision was made under, for the ticket and the audit log."""

    rules: tuple[Rule, ...]
    digest: str
    source: str
    text: str

    def evaluate(self, facts: RequestFacts) -> Outcome:
        """The first rule that applies decides; none applying routes to the stewards."""
        looked: list[str] = []
        for rule in self.rules:
            holds, why = rule.test(facts)
            if holds:
                return rule.decide(facts, why, looked)
            looked.append(f"rule {rule.name} (line {rule.line}) does not apply: {why}")
        looked.append(_DEFAULT_LINE)
        return Outcome(
            None,
            "route",
            facts.domain,
            route_to="stewards",
            approvals=1,
            explanation=tuple(looked),
        )


def load_rules(text: str, source: str = "rules.yaml") -> RuleSet:
    """Check and compile a rule file; ``source`` names it in the one-line refusals."""
    return RuleSet(
        _Reader(source).rules(text), hashlib.sha256(text.encode()).hexdigest(), source, text
    )


@functools.cache
def default_rules() -> RuleSet:
    """The rules a mesh uses until it is given its own (the seeds' behaviour)."""
    return load_rules(DEFAULT_RULES, "default rules")


# --------------------------------------------------------------------------- reading


_TOP_KEYS = ("version", "rules")
_RULE_KEYS = ("name", "description", "when", "then")
_CONDITION_KEYS = (
    "tagged",
    "not_tagged",
    "domain",
    "requester_domain",
    "requester_role",
    "columns_any",
    "all_columns",
    "duration_max",
    "duration_over",
    "no_duration",
)
_APPROVE_KEYS = ("exclude_tagged", "exclude_columns", "row_filter")
_ROUTE_KEYS = ("route", "approvals", "offer", "offer_tags")
_ACTIONS = ("approve", "route", "reject")


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1 if node.start_mark is not None else 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL


class _Reader:
    """Walks the composed YAML nodes (not the constructed values) so that every refusal
    can name the line of the node at fault."""

    def __init__(self, source: str) -> None:
        self.source = source
        #: The line of the key that holds each block collection: a block mapping or list
        #: starts on the line after its key, but ``rules:`` is where a reader looks.
        self.key_lines: dict[int, int] = {}

    def refuse(self, where: yaml.Node | int, what: str) -> InvalidInput:
        line = where if isinstance(where, int) else self.key_lines.get(id(where), _line(where))
        return InvalidInput(f"{self.source}, line {line}: {' '.join(what.split())}")

    # ---- structure

    def rules(self, text: str) -> tuple[Rule, ...]:
        if len(text) > MAX_TEXT:
            line = text.count("\n", 0, MAX_TEXT) + 1
            raise self.refuse(line, f"the file is longer than {MAX_TEXT} characters")
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
            problem = getattr(error, "problem", None) or type(error).__name__
            raise self.refuse(mark.line + 1 if mark else 1, f"not valid YAML: {problem}") from None
        if root is None or _is_null(root):
            raise self.refuse(1, "the file is empty; expected 'rules:' with a list of rules")
        fields = self.mapping(root, _TOP_KEYS, "the file")
        if "version" in fields:
            version = fields["version"]
            if not isinstance(version, yaml.ScalarNode) or version.value != "1":
                raise self.refuse(version, "'version' must be 1")
        if "rules" not in fields:
            raise self.refuse(root, "missing 'rules' (a list of rules)")
        entries = fields["rules"]
        if not isinstance(entries, yaml.SequenceNode) or not entries.value:
            raise self.refuse(entries, "'rules' must be a list of at least one rule")
        if len(entries.value) > MAX_RULES:
            raise self.refuse(entries.value[MAX_RULES], f"more than {MAX_RULES} rules")
        out: dict[str, Rule] = {}
        for node in entries.value:
            rule = self.rule(node)
            if rule.name in out:
                first = out[rule.name].line
                raise self.refuse(node, f"rule {rule.name!r} is already defined at line {first}")
            out[rule.name] = rule
        return tuple(out.values())

    def mapping(
        self, node: yaml.Node, keys: Sequence[str], what: str, empty: bool = False
    ) -> dict[str, yaml.Node]:
        """A mapping's values by key; unknown and repeated keys are refused at their line."""
        if not isinstance(node, yaml.MappingNode):
            raise self.refuse(node, f"{what} must be a mapping with keys {', '.join(keys)}")
        if not node.value and not empty:
            raise self.refuse(node, f"{what} is empty; expected keys {', '.join(keys)}")
        fields: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "<not a name>"
            if name not in keys:
                raise self.refuse(
                    key, f"unknown key {_shown(name)} in {what} (expected one of {', '.join(keys)})"
                )
            if name in fields:
                raise self.refuse(key, f"{name!r} is given twice in {what}")
            fields[name] = value
            if isinstance(value, yaml.CollectionNode) and not value.flow_style:
                self.key_lines[id(value)] = _line(key)
        return fields

    def rule(self, node: yaml.Node) -> Rule:
        fields = self.mapping(node, _RULE_KEYS, "a rule")
        if "name" not in fields:
            raise self.refuse(node, "the rule has no 'name'")
        name = self.text(fields["name"], "'name'", MAX_DESCRIPTION)
        if not _RULE_NAME.fullmatch(name):
            raise self.refuse(
                fields["name"], f"rule name {_shown(name)} is not of the form [a-z0-9][a-z0-9_-]*"
            )
        description = ""
        if "description" in fields:
            description = self.text(fields["description"], "'description'", MAX_DESCRIPTION)
        conditions: tuple[Condition, ...] = ()
        if "when" in fields:
            conditions = self.conditions(fields["when"])
        if "then" not in fields:
            raise self.refuse(node, f"rule {name!r} has no 'then' (what to do)")
        tagged = next((c.tags for c in conditions if isinstance(c, Tagged)), None)
        action = self.action(fields["then"], tagged)
        return Rule(name, description, conditions, action, _line(node))

    # ---- conditions

    def conditions(self, node: yaml.Node) -> tuple[Condition, ...]:
        if _is_null(node):
            raise self.refuse(node, "'when' is empty; leave it out for a rule that always applies")
        out: list[Condition] = []
        for key, value in self.mapping(node, _CONDITION_KEYS, "'when'").items():
            what = f"{key!r}"
            if key in ("tagged", "not_tagged"):
                tags = self.tags(value, what)
                out.append(Tagged(tags) if key == "tagged" else NotTagged(tags))
            elif key == "domain" or key == "requester_domain":
                names = self.names(value, what, DOMAIN_NAME, "a domain name")
                out.append(OneOf("domain" if key == "domain" else "requester_domain", names))
            elif key == "requester_role":
                roles = self.names(value, what, _ROLE, " or ".join(ROLES))
                out.append(OneOf("requester_role", roles))
            elif key == "columns_any":
                out.append(ColumnsAny(self.names(value, what, OBJECT_NAME, "a column name")))
            elif key == "all_columns":
                out.append(AllColumns(self.flag(value, what)))
            elif key == "no_duration":
                out.append(NoDuration(self.flag(value, what)))
            elif key == "duration_max":
                out.append(DurationMax(self.duration(value, what)))
            else:
                out.append(DurationOver(self.duration(value, what)))
        return tuple(out)

    # ---- actions

    def action(self, node: yaml.Node, tagged: TagSet | None) -> Action:
        if isinstance(node, yaml.ScalarNode) and node.value in ("approve", "reject"):
            return Approve() if node.value == "approve" else Reject()
        if not isinstance(node, yaml.MappingNode) or not node.value:
            raise self.refuse(
                node,
                "'then' must be approve, reject, or a mapping with one of approve, route, reject",
            )
        keys = {k.value: k for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        chosen = [k for k in keys if k in _ACTIONS]
        if len(chosen) > 1:
            raise self.refuse(keys[chosen[1]], f"'then' gives {' and '.join(chosen)}; choose one")
        if chosen == ["route"]:
            return self.route(self.mapping(node, _ROUTE_KEYS, "a route action"), tagged)
        if not chosen:
            self.mapping(node, _ACTIONS, "'then'")  # names the first unknown key
            raise self.refuse(node, "'then' must give one of approve, route, reject")
        kind = chosen[0]
        value = self.mapping(node, (kind,), "'then'")[kind]
        if kind == "approve":
            return self.approve(value)
        if _is_null(value):
            return Reject()
        fields = self.mapping(value, ("comment",), "'reject'", empty=True)
        if "comment" not in fields:
            raise self.refuse(value, "'reject' takes a 'comment'")
        return Reject(self.text(fields["comment"], "'comment'", MAX_COMMENT))

    def approve(self, node: yaml.Node) -> Approve:
        if _is_null(node):
            return Approve()
        fields = self.mapping(node, _APPROVE_KEYS, "'approve'")
        exclude_tagged = None
        if "exclude_tagged" in fields:
            exclude_tagged = self.tags(fields["exclude_tagged"], "'exclude_tagged'")
        columns: tuple[str, ...] = ()
        if "exclude_columns" in fields:
            node = fields["exclude_columns"]
            columns = self.names(node, "'exclude_columns'", OBJECT_NAME, "a column name")
        row_filter = None
        if "row_filter" in fields:
            row_filter = self.text(fields["row_filter"], "'row_filter'", MAX_ROW_FILTER)
        return Approve(exclude_tagged, columns, row_filter)

    def route(self, fields: dict[str, yaml.Node], tagged: TagSet | None) -> Route:
        target = fields["route"]
        to: RouteTo
        if isinstance(target, yaml.ScalarNode) and target.value in ("stewards", "admins"):
            to = "stewards" if target.value == "stewards" else "admins"
        elif isinstance(target, yaml.ScalarNode | yaml.SequenceNode) and not _is_null(target):
            to = self.names(target, "'route'", _PRINCIPAL, "stewards, admins or user@domain")
        else:
            raise self.refuse(target, "'route' must be stewards, admins or a list of user@domain")
        approvals = 1
        if "approvals" in fields:
            node = fields["approvals"]
            if not isinstance(node, yaml.ScalarNode) or not re.fullmatch(r"\d{1,3}", node.value):
                raise self.refuse(node, "'approvals' must be a whole number")
            approvals = int(node.value)
            if not 1 <= approvals <= MAX_APPROVALS:
                raise self.refuse(node, f"'approvals' must be between 1 and {MAX_APPROVALS}")
            if isinstance(to, tuple) and approvals > len(to):
                raise self.refuse(
                    node, f"'approvals' is {approvals} but 'route' names only {len(to)} approvers"
                )
        offer = "exclude-tagged" if "offer_tags" in fields else "none"
        if "offer" in fields:
            node = fields["offer"]
            if not isinstance(node, yaml.ScalarNode) or node.value not in (
                "exclude-tagged",
                "none",
            ):
                raise self.refuse(node, "'offer' must be exclude-tagged or none")
            if node.value == "none" and "offer_tags" in fields:
                raise self.refuse(node, "'offer' is none but 'offer_tags' is given")
            offer = node.value
        offer_tags = None
        if "offer_tags" in fields:
            offer_tags = self.tags(fields["offer_tags"], "'offer_tags'")
        elif offer == "exclude-tagged":
            if tagged is None:
                raise self.refuse(
                    fields["offer"],
                    "'offer: exclude-tagged' needs 'offer_tags' or a 'tagged' condition"
                    " to say which columns to leave out",
                )
            offer_tags = tagged
        return Route(to, approvals, offer_tags)

    # ---- values

    def text(self, node: yaml.Node, what: str, limit: int) -> str:
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            raise self.refuse(node, f"{what} must be a string")
        if not node.value.strip():
            raise self.refuse(node, f"{what} must not be empty")
        if len(node.value) > limit:
            raise self.refuse(node, f"{what} is longer than {limit} characters")
        return str(node.value)

    def names(
        self, node: yaml.Node, what: str, pattern: re.Pattern[str], expected: str
    ) -> tuple[str, ...]:
        """One name or a list of them (at most ``MAX_NAMES``), each matching ``pattern``."""
        items = [node] if isinstance(node, yaml.ScalarNode) else node.value
        if not isinstance(node, yaml.ScalarNode | yaml.SequenceNode) or not items or _is_null(node):
            raise self.refuse(node, f"{what} must be a name or a list of names")
        if len(items) > MAX_NAMES:
            raise self.refuse(items[MAX_NAMES], f"{what} lists more than {MAX_NAMES} names")
        out: dict[str, None] = {}
        for item in items:
            if not isinstance(item, yaml.ScalarNode) or not pattern.fullmatch(item.value):
                shown = _shown(item.value) if isinstance(item, yaml.ScalarNode) else "a collection"
                raise self.refuse(item, f"{what}: {shown} is not {expected}")
            if item.value in out:
                raise self.refuse(item, f"{what}: {item.value!r} is listed twice")
            out[str(item.value)] = None
        return tuple(out)

    def tags(self, node: yaml.Node, what: str) -> TagSet:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            raise self.refuse(node, f'{what} must be a mapping of tags, e.g. {{pii: "true"}}')
        if len(node.value) > MAX_NAMES:
            raise self.refuse(node.value[MAX_NAMES][0], f"{what} has more than {MAX_NAMES} tags")
        items: dict[str, frozenset[str] | None] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else ""
            if not _TAG_KEY.fullmatch(name):
                raise self.refuse(key, f"{what}: {_shown(name)} is not a tag key ([a-z][a-z0-9_]*)")
            if name in items:
                raise self.refuse(key, f"{what}: tag {name!r} is given twice")
            values = self.names(value, f"{what} {name}", _TAG_VALUE_OR_ANY, "a tag value")
            items[name] = None if "*" in values else frozenset(values)
        return TagSet(tuple(items.items()))

    def flag(self, node: yaml.Node, what: str) -> bool:
        value = node.value.lower() if isinstance(node, yaml.ScalarNode) else None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise self.refuse(node, f"{what} must be true or false")

    def duration(self, node: yaml.Node, what: str) -> timedelta:
        if not isinstance(node, yaml.ScalarNode) or _is_null(node):
            raise self.refuse(node, f"{what} must be a duration such as 30d")
        try:
            return parse_duration(node.value)
        except InvalidInput as error:
            raise self.refuse(node, f"{what}: {error}") from None
