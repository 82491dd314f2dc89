"""Event patterns: EventBridge's documented examples, every refusal, and properties that
hold for any event (an exact pattern built from an event matches it; anything-but of a
value never matches that value; wildcards, prefixes and ranges agree with their plain
Python meaning)."""

from __future__ import annotations

import json
import re
import time
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakemesh.errors import InvalidInput
from lakemesh.events.patterns import MAX_DEPTH, MAX_MATCHERS, MAX_STRING, MAX_TEXT, Pattern

#: The sample event of EventBridge's content-filtering documentation (and event-ruler's).
EC2 = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}


def detail(**fields: Any) -> dict[str, Any]:
    return {"detail": fields}


# (pattern, matches EC2)
EC2_CASES: list[tuple[dict[str, Any], bool]] = [
    # exact values, AND over keys, OR within a leaf, arrays in the event
    (
        {
            "detail-type": ["EC2 Instance State-change Notification"],
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
            "detail": {"state": ["initializing", "running"]},
        },
        True,
    ),
    ({"source": ["aws.ec2"], "detail": {"state": ["initializing"]}}, False),
    ({"source": ["aws.s3"], "detail": {"state": ["running"]}}, False),
    (
        {
            "resources": [
                "arn:other",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000",
            ]
        },
        True,
    ),
    ({"resources": ["arn:other"]}, False),
    # numbers are compared as numbers, and never equal strings
    (detail(**{"c-count": [5.0]}), True),
    (detail(**{"x-limit": [3.018e2]}), True),
    (detail(**{"c-count": ["5"]}), False),
    (detail(**{"c-count": [6]}), False),
    # prefix, suffix, equals-ignore-case
    ({"time": [{"prefix": "2017-10-02"}]}, True),
    ({"time": [{"prefix": "2017-10-03"}]}, False),
    ({"detail-type": [{"prefix": {"equals-ignore-case": "ec2 INSTANCE"}}]}, True),
    ({"detail-type": [{"prefix": {"equals-ignore-case": "ec2 volume"}}]}, False),
    ({"source": [{"suffix": "ec2"}]}, True),
    ({"source": [{"suffix": "ec3"}]}, False),
    ({"source": [{"suffix": {"equals-ignore-case": "EC2"}}]}, True),
    ({"source": [{"equals-ignore-case": "AWS.EC2"}]}, True),
    ({"source": [{"equals-ignore-case": "AWS.EC"}]}, False),
    (detail(**{"c-count": [{"prefix": "5"}]}), False),  # string matchers skip numbers
    # wildcard
    ({"detail-type": [{"wildcard": "EC2*Notification"}]}, True),
    ({"detail-type": [{"wildcard": "EC2*State*"}]}, True),
    ({"detail-type": [{"wildcard": "*Alarm*"}]}, False),
    ({"source": [{"wildcard": "*"}]}, True),
    ({"source": [{"wildcard": "aws.ec2*"}]}, True),
    ({"source": [{"wildcard": "aws.ec2*x"}]}, False),
    # anything-but: a value, a list, a prefix, a suffix, ignoring case, a wildcard
    (detail(state=[{"anything-but": "initializing"}]), True),
    (detail(state=[{"anything-but": "running"}]), False),
    (detail(**{"x-limit": [{"anything-but": 123}]}), True),
    (detail(**{"x-limit": [{"anything-but": 301.8}]}), False),
    (detail(state=[{"anything-but": ["stopped", "overloaded"]}]), True),
    (detail(state=[{"anything-but": ["stopped", "running"]}]), False),
    (detail(**{"x-limit": [{"anything-but": [100, 200, 300]}]}), True),
    (detail(**{"x-limit": [{"anything-but": [100, 301.8]}]}), False),
    (detail(state=[{"anything-but": {"prefix": "init"}}]), True),
    (detail(state=[{"anything-but": {"prefix": "run"}}]), False),
    (detail(state=[{"anything-but": {"suffix": "ed"}}]), True),
    (detail(state=[{"anything-but": {"suffix": "ing"}}]), False),
    (detail(state=[{"anything-but": {"equals-ignore-case": ["STOPPED", "PENDING"]}}]), True),
    (detail(state=[{"anything-but": {"equals-ignore-case": "RUNNING"}}]), False),
    (detail(state=[{"anything-but": {"wildcard": "*stop*"}}]), True),
    (detail(state=[{"anything-but": {"wildcard": "run*"}}]), False),
    # numeric: one comparison or a range, numbers only
    (detail(**{"c-count": [{"numeric": [">", 0, "<=", 5]}]}), True),
    (detail(**{"c-count": [{"numeric": [">", 5, "<=", 10]}]}), False),
    (detail(**{"c-count": [{"numeric": [">=", 5, "<", 6]}]}), True),
    (detail(**{"c-count": [{"numeric": [">=", 5, "<=", 5]}]}), True),
    (detail(**{"d-count": [{"numeric": ["<", 10]}]}), True),
    (detail(**{"d-count": [{"numeric": ["<", 3]}]}), False),
    (detail(**{"x-limit": [{"numeric": ["=", 3.018e2]}]}), True),
    (detail(**{"x-limit": [{"numeric": ["=", 301]}]}), False),
    (detail(state=[{"numeric": [">", 0]}]), False),
    # cidr
    (detail(**{"source-ip": [{"cidr": "10.0.0.0/24"}]}), True),
    (detail(**{"source-ip": [{"cidr": "10.0.0.0/8"}]}), True),
    (detail(**{"source-ip": [{"cidr": "10.0.1.0/24"}]}), False),
    (detail(**{"source-ip": [{"cidr": "2001:db8::/32"}]}), False),
    (detail(state=[{"cidr": "10.0.0.0/8"}]), False),
    # exists: leaves only; exists:false matches a missing key, and a key that is no leaf
    (detail(**{"c-count": [{"exists": True}]}), True),
    (detail(**{"c-count": [{"exists": False}]}), False),
    (detail(**{"e-count": [{"exists": False}]}), True),
    (detail(**{"e-count": [{"exists": True}]}), False),
    ({"detail": [{"exists": False}]}, True),
    ({"detail": [{"exists": True}]}, False),
    ({"missing": {"deeper": [{"exists": False}]}}, True),
    ({"missing": {"deeper": [{"exists": True}]}}, False),
    ({"source": {"deeper": ["aws.ec2"]}}, False),
    # a leaf's alternatives mix kinds
    (detail(state=["stopped", {"prefix": "run"}]), True),
    (detail(state=["stopped", {"exists": False}]), False),
    # the complex example of the documentation
    (
        {
            "time": [{"prefix": "2017-10-02"}],
            "detail": {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
                "source-ip": [{"cidr": "10.0.0.0/8"}],
            },
        },
        True,
    ),
    # $or at the top and inside an object, with AND inside an alternative
    (
        {
            "source": ["aws.ec2"],
            "$or": [{"region": ["eu-west-1"]}, {"detail": {"state": ["running"]}}],
        },
        True,
    ),
    (
        {
            "source": ["aws.ec2"],
            "$or": [{"region": ["eu-west-1"]}, {"detail": {"state": ["stopped"]}}],
        },
        False,
    ),
    (
        {
            "detail": {
                "$or": [
                    {"c-count": [{"numeric": [">", 10]}]},
                    {"d-count": [3], "state": ["running"]},
                ]
            }
        },
        True,
    ),
    (
        {
            "detail": {
                "$or": [
                    {"c-count": [{"numeric": [">", 10]}]},
                    {"d-count": [3], "state": ["stopped"]},
                ]
            }
        },
        False,
    ),
    (
        {
            "$or": [{"region": ["eu-west-1"]}, {"account": ["012345679012"]}],
            "detail": {"$or": [{"state": ["stopped"]}, {"instance-id": [{"prefix": "i-0"}]}]},
        },
        True,
    ),
    (
        {
            "$or": [
                {"region": ["eu-west-1"]},
                {
                    "source": ["aws.ec2"],
                    "$or": [{"detail": {"c-count": [1234]}}, {"detail": {"d-count": [3]}}],
                },
            ]
        },
        True,
    ),
]


@pytest.mark.parametrize(("pattern", "expected"), EC2_CASES)
def test_documented_examples(pattern: dict[str, Any], expected: bool) -> None:
    compiled = Pattern.parse(pattern)
    assert compiled.matches(EC2) is expected
    # the same pattern written as JSON text compiles to the same thing
    assert Pattern.parse(json.dumps(pattern, indent=2)) == compiled


EMPLOYEES = {
    "employees": [
        [
            {"firstName": "John", "lastName": "Doe"},
            {"firstName": "Anna", "lastName": "Smith"},
        ],
        [{"firstName": "Peter", "lastName": "Jones"}],
    ]
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"employees": {"firstName": ["Anna"]}}, True),
        ({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, True),
        # fields of one sub-pattern must match within one element of the array
        ({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, False),
        ({"employees": {"middleName": [{"exists": False}]}}, True),
        ({"employees": {"firstName": [{"exists": False}]}}, False),
        ({"employees": {"firstName": [{"anything-but": ["John", "Anna"]}]}}, True),
    ],
)
def test_arrays_of_objects_match_element_by_element(
    pattern: dict[str, Any], expected: bool
) -> None:
    assert Pattern.parse(pattern).matches(EMPLOYEES) is expected


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        # an array matches when any element does
        (["a", "b"], ["b", "c"], True),
        (["a", "b"], ["c"], False),
        ([["a"], ["b", ["c"]]], ["c"], True),
        (["running", "stopped"], [{"anything-but": "running"}], True),
        (["running"], [{"anything-but": "running"}], False),
        ([1, 20], [{"numeric": [">", 10]}], True),
        # an empty array holds no leaf
        ([], [{"exists": False}], True),
        ([], [{"exists": True}], False),
        ([], [{"anything-but": "x"}], False),
        # JSON literals are exact, and true is not 1
        (True, [True], True),
        (True, [1], False),
        (1, [True], False),
        (0, [False], False),
        (False, [False], True),
        (None, [None], True),
        (None, ["null"], False),
        (None, [{"exists": True}], True),
        ("", [""], True),
        ("", [{"prefix": ""}], True),
        # anything-but excludes only values of its own kind
        ("5", [{"anything-but": 5}], True),
        (5, [{"anything-but": "5"}], True),
        (5, [{"anything-but": {"prefix": "5"}}], True),
        (None, [{"anything-but": "x"}], True),
        # numbers compare numerically, large and small
        (10**20, [{"numeric": [">", 1e19]}], True),
        (-0.0, [0], True),
        (2.5, [{"numeric": [">", 2, "<", 3]}], True),
        ("2.5", [{"numeric": [">", 2, "<", 3]}], False),
        (True, [{"numeric": ["=", 1]}], False),
        # wildcards: escapes and stars
        ("a*b", [{"wildcard": "a\\*b"}], True),
        ("axb", [{"wildcard": "a\\*b"}], False),
        ("a\\b", [{"wildcard": "a\\\\b"}], True),
        ("abcabc", [{"wildcard": "a*c*c"}], True),
        ("abc", [{"wildcard": "a*bc*c"}], False),
        ("ab", [{"wildcard": "a*b*"}], True),
        ("xaby", [{"wildcard": "*ab*ab*"}], False),  # each piece needs its own place
        ("xababy", [{"wildcard": "*ab*ab*"}], True),
        ("aXa", [{"wildcard": "a*a"}], True),
        ("a", [{"wildcard": "a*a"}], False),
        ("line\nbreak", [{"wildcard": "line*break"}], True),
        # case folding beyond ASCII
        ("STRASSE", [{"equals-ignore-case": "straße"}], True),
        ("Ölpreis", [{"prefix": {"equals-ignore-case": "öl"}}], True),
        # IPv6 networks, and strings that are no address
        ("2001:db8::1", [{"cidr": "2001:db8::/32"}], True),
        ("::ffff:10.0.0.1", [{"cidr": "10.0.0.0/8"}], False),
        ("not an ip", [{"cidr": "0.0.0.0/0"}], False),
        ("10.0.0.300", [{"cidr": "10.0.0.0/8"}], False),
    ],
)
def test_leaf_semantics(value: Any, pattern: list[Any], expected: bool) -> None:
    assert Pattern.parse({"f": pattern}).matches({"f": value}) is expected


def test_missing_values_match_only_absence() -> None:
    for leaf in (["x"], [None], [{"anything-but": "x"}], [{"prefix": ""}], [{"exists": True}]):
        assert not Pattern.parse({"f": leaf}).matches({"g": 1})
    assert Pattern.parse({"f": [{"exists": False}]}).matches({"g": 1})


def test_envelopes_may_be_any_mapping() -> None:
    pattern = Pattern.parse({"type": ["a"], "detail": {"n": [1]}})
    assert pattern.matches(MappingProxyType({"type": "a", "detail": MappingProxyType({"n": 1})}))
    assert pattern.matches({"type": ("a",), "detail": [{"n": 2}, {"n": 1}]})


def test_text_is_canonical_and_defines_equality() -> None:
    one = Pattern.parse('{ "b": ["x"],\n  "a": {"d": [1], "c": [true]} }')
    two = Pattern.parse({"a": {"c": [True], "d": [1]}, "b": ["x"]})
    assert one.text == '{"a":{"c":[true],"d":[1]},"b":["x"]}'
    assert one == two
    assert hash(one) == hash(two)
    assert len({one, two}) == 1
    assert one != Pattern.parse({"b": ["y"]})
    assert Pattern.parse(one.text) == one
    assert repr(one) == f"Pattern({one.text})"
    assert Pattern.parse({"k": ("tuple",)}).text == '{"k":["tuple"]}'
    assert Pattern.parse(MappingProxyType({"k": ["v"]})).text == '{"k":["v"]}'


def test_patterns_are_immutable() -> None:
    pattern = Pattern.parse({"a": ["x"]})
    with pytest.raises(AttributeError):
        pattern._text = '{"a":["y"]}'
    with pytest.raises(AttributeError):
        del pattern._check
    assert pattern.text == '{"a":["x"]}'


def test_everything_is_explicit() -> None:
    everything = Pattern.everything()
    assert everything.text == "{}"
    assert everything.matches({}) and everything.matches(EC2)
    assert everything == Pattern.everything()


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"leaf": ["x"]}
    for _ in range(depth - 1):
        node = {"k": node}
    return node


# (pattern, the whole message); each class of refusal once
REFUSALS: list[tuple[Any, str]] = [
    ("not json", "pattern: not valid JSON: Expecting value (line 1 column 1)"),
    ('{"a": ["x"]', "pattern: not valid JSON: Expecting ',' delimiter (line 1 column 12)"),
    ('{"a": [NaN]}', "pattern: not valid JSON: NaN is not a JSON number"),
    ('{"a": ["x"], "a": ["y"]}', 'pattern: not valid JSON: duplicate key "a"'),
    ("x" * (MAX_TEXT + 1), f"pattern: longer than {MAX_TEXT} characters"),
    ('{"a":' * 3000 + "[1]" + "}" * 3000, f"pattern: nested deeper than {MAX_DEPTH} levels"),
    (5, "pattern: a pattern is JSON text or a mapping"),
    ('["a"]', "pattern: a pattern must be a JSON object"),
    (
        "{}",
        "pattern: an empty pattern would match every event; match at least one field, "
        'e.g. {"type": [{"prefix": ""}]} for every event',
    ),
    ({"detail": {}}, "pattern: at detail: an empty object is not allowed"),
    (
        {"type": "catalog.table.created"},
        "pattern: at type: a leaf must be a non-empty array of values or matchers",
    ),
    ({"type": []}, "pattern: at type: a leaf must be a non-empty array of values or matchers"),
    (
        {"type": [["a"]]},
        "pattern: at type: a leaf must be a non-empty array of values or matchers, not of arrays",
    ),
    ({1: ["a"]}, "pattern: keys must be strings, not int"),
    ({"a": [object()]}, "pattern: at a: object is not a JSON value"),
    ({"a": [float("inf")]}, "pattern: at a: inf is not a finite number"),
    (
        {"a": ["x" * (MAX_STRING + 1)]},
        f"pattern: at a: a string is longer than {MAX_STRING} characters",
    ),
    ({"k" * (MAX_STRING + 1): ["x"]}, f"pattern: a string is longer than {MAX_STRING} characters"),
    (
        nested(MAX_DEPTH + 1),
        f"pattern: at {'.'.join(['k'] * MAX_DEPTH)}: nested deeper than {MAX_DEPTH} levels",
    ),
    (
        {"a": list(range(MAX_MATCHERS + 1))},
        f"pattern: at a: more than {MAX_MATCHERS} values in one pattern",
    ),
    (
        {"a": [{"anything-but": [str(i) for i in range(MAX_MATCHERS + 1)]}]},
        f"pattern: at a: more than {MAX_MATCHERS} values in one pattern",
    ),
    (
        {"type": [{"prefix": "a", "suffix": "b"}]},
        "pattern: at type: a matcher is an object with exactly one key, not 2",
    ),
    (
        {"type": [{"regex": "a.*"}]},
        'pattern: at type: unknown matcher "regex" (expected one of anything-but, cidr, '
        "equals-ignore-case, exists, numeric, prefix, suffix, wildcard)",
    ),
    (
        {"detail": {"table": [{"prefix": 5}]}},
        'pattern: at detail.table: "prefix" needs a string or {"equals-ignore-case": string}',
    ),
    (
        {"a": [{"suffix": {"equals": "x"}}]},
        'pattern: at a: "suffix" needs a string or {"equals-ignore-case": string}',
    ),
    ({"a": [{"equals-ignore-case": ["x"]}]}, 'pattern: at a: "equals-ignore-case" needs a string'),
    ({"a": [{"wildcard": "a**b"}]}, 'pattern: at a: "wildcard": consecutive * are not allowed'),
    (
        {"a": [{"wildcard": "a\\b"}]},
        'pattern: at a: "wildcard": a backslash may only escape * or \\',
    ),
    (
        {"a": [{"cidr": "10.0.0.0/33"}]},
        'pattern: at a: "cidr" needs a network such as 10.0.0.0/24, not "10.0.0.0/33"',
    ),
    ({"a": [{"exists": "yes"}]}, 'pattern: at a: "exists" needs true or false'),
    (
        {"a": [{"anything-but": {"prefix": ""}}]},
        'pattern: at a: "anything-but" needs a non-empty "prefix"',
    ),
    ({"$or": [{"a": ["x"]}]}, 'pattern: at $or: "$or" needs an array of at least two objects'),
    (
        {"d": {"$or": {"a": ["x"]}}},
        'pattern: at d.$or: "$or" needs an array of at least two objects',
    ),
    ({"$or": [{"a": ["x"]}, {}]}, "pattern: at $or[1]: an empty object is not allowed"),
    (
        {"$or": [{"a": ["x"]}, {"b": [{"prefix": 1}]}]},
        'pattern: at $or[1].b: "prefix" needs a string or {"equals-ignore-case": string}',
    ),
    ({"odd key\n": [{"exists": 1}]}, 'pattern: at "odd key\\n": "exists" needs true or false'),
]

ANYTHING_BUT = [
    True,
    None,
    [],
    ["a", 1],
    [True],
    {"regex": "x"},
    {"prefix": 5},
    {"prefix": "a", "suffix": "b"},
]
NUMERIC = [
    ">",
    [">"],
    ["~", 1],
    [">", "5"],
    [">", True],
    ["<", 5, ">", 1],
    [">", 1, ">", 5],
    [">", 1, "<"],
    [">", 1, "<", "5"],
]
EMPTY_RANGES = [[">", 5, "<", 1], [">", 5, "<=", 5], [">=", 5, "<", 5]]


@pytest.mark.parametrize(("pattern", "message"), REFUSALS)
def test_refusals_name_the_place_in_one_line(pattern: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Pattern.parse(pattern)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("arg", ANYTHING_BUT)
def test_anything_but_takes_strings_or_numbers(arg: Any) -> None:
    with pytest.raises(
        InvalidInput, match=r'^pattern: at a: "anything-but" needs a string, a number'
    ):
        Pattern.parse({"a": [{"anything-but": arg}]})


@pytest.mark.parametrize("arg", NUMERIC)
def test_numeric_takes_one_comparison_or_a_range(arg: Any) -> None:
    with pytest.raises(InvalidInput, match=r'^pattern: at a: "numeric" needs \[operator, number\]'):
        Pattern.parse({"a": [{"numeric": arg}]})


@pytest.mark.parametrize("arg", EMPTY_RANGES)
def test_numeric_ranges_must_hold_a_number(arg: Any) -> None:
    with pytest.raises(InvalidInput, match=r'^pattern: at a: "numeric": the range .* is empty$'):
        Pattern.parse({"a": [{"numeric": arg}]})


def test_source_names_the_pattern() -> None:
    with pytest.raises(InvalidInput, match=r"^rule orders-created: at type: a leaf"):
        Pattern.parse('{"type": "x"}', source="rule orders-created")


def test_limits_are_inclusive() -> None:
    Pattern.parse({"a": list(range(MAX_MATCHERS))})
    Pattern.parse(nested(MAX_DEPTH))
    Pattern.parse({"a": ["x" * MAX_STRING]})


def test_matching_is_fast_enough_to_route() -> None:
    """Five patterns over 5,000 events, the bus's budget for one second, must take a
    small part of it (typically ~30 ms: a match costs about a microsecond)."""
    patterns = [
        Pattern.parse(
            {
                "type": ["catalog.table.created", "catalog.table.updated"],
                "domain": [f"d{i}"],
                "detail": {"table": [{"prefix": f"d{i}."}], "partitions": [{"numeric": [">", 0]}]},
                "actor": [{"exists": True}],
            }
        )
        for i in range(5)
    ]
    events = [
        {
            "type": "catalog.table.created" if n % 2 else "policy.grant.created",
            "domain": f"d{n % 7}",
            "actor": "ann@sales",
            "detail": {"table": f"d{n % 7}.db.t{n}", "partitions": n % 3, "format": "parquet"},
        }
        for n in range(5000)
    ]
    started = time.perf_counter()
    routed = sum(p.matches(e) for e in events for p in patterns)
    elapsed = time.perf_counter() - started
    assert routed == sum(1 for n in range(5000) if n % 2 and n % 7 < 5 and n % 3 > 0)
    assert elapsed < 0.5, f"routing 5,000 events over 5 patterns took {elapsed:.3f} s"


# --------------------------------------------------------------------------- properties

SETTINGS = settings(max_examples=200, deadline=None)
KEYS = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8).filter(lambda k: k != "$or")
NUMBERS = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12)
LEAVES = SCALARS | st.lists(SCALARS, min_size=1, max_size=4)


def objects(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    values = LEAVES if depth == 1 else LEAVES | objects(depth - 1)
    return st.dictionaries(KEYS, values, min_size=1, max_size=4)


EVENTS = objects(3)


def exact_pattern(event: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """A pattern made of exact values taken from ``event`` (a subset of its keys)."""
    keys = draw(st.lists(st.sampled_from(sorted(event)), min_size=1, unique=True))
    out: dict[str, Any] = {}
    for key in keys:
        value = event[key]
        if isinstance(value, dict):
            out[key] = exact_pattern(value, draw)
        elif isinstance(value, list):
            out[key] = [draw(st.sampled_from(value)), "some other value"]
        else:
            out[key] = [value]
    return out


@st.composite
def event_and_pattern(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    event = draw(EVENTS)
    return event, exact_pattern(event, draw)


@SETTINGS
@given(event_and_pattern())
def test_an_exact_pattern_built_from_an_event_matches_it(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    event, pattern = case
    compiled = Pattern.parse(pattern)
    assert compiled.matches(event)
    assert Pattern.parse(compiled.text).matches(json.loads(json.dumps(event)))


@SETTINGS
@given(st.text(max_size=12) | NUMBERS, st.text(max_size=12) | NUMBERS)
def test_anything_but_a_value_never_matches_it(value: Any, other: Any) -> None:
    pattern = Pattern.parse({"f": [{"anything-but": value}]})
    assert not pattern.matches({"f": value})
    assert not pattern.matches({"f": [value]})
    assert pattern.matches({"f": other}) is (other != value)
    assert not pattern.matches({})


@SETTINGS
@given(
    # the literal pieces between stars; an empty piece between two stars would make "**"
    st.lists(st.text("ab*", max_size=4), min_size=1, max_size=4).filter(lambda p: all(p[1:-1])),
    st.text("ab*", max_size=10),
)
def test_wildcards_mean_what_fnmatch_means(parts: list[str], value: str) -> None:
    glob = "".join(part.replace("*", "\\*") for part in parts[:1]) + "".join(
        "*" + part.replace("*", "\\*") for part in parts[1:]
    )
    regex = ".*".join(re.escape(part) for part in parts)
    expected = re.fullmatch(regex, value, re.DOTALL) is not None
    assert Pattern.parse({"f": [{"wildcard": glob}]}).matches({"f": value}) is expected


@SETTINGS
@given(st.text("abAB", max_size=3), st.text("abAB", max_size=6))
def test_prefix_and_suffix_mean_startswith_and_endswith(affix: str, value: str) -> None:
    event = {"f": value}
    assert Pattern.parse({"f": [{"prefix": affix}]}).matches(event) is value.startswith(affix)
    assert Pattern.parse({"f": [{"suffix": affix}]}).matches(event) is value.endswith(affix)
    ignore = {"equals-ignore-case": affix}
    assert Pattern.parse({"f": [{"prefix": ignore}]}).matches(event) is value.lower().startswith(
        affix.lower()
    )
    if affix:  # an empty anything-but prefix is refused
        but = Pattern.parse({"f": [{"anything-but": {"prefix": affix}}]})
        assert but.matches(event) is not value.startswith(affix)


@SETTINGS
@given(NUMBERS, NUMBERS, NUMBERS, st.booleans(), st.booleans())
def test_numeric_ranges_mean_comparisons(
    value: float, a: float, b: float, open_low: bool, open_high: bool
) -> None:
    low, high = min(a, b), max(a, b)
    if low == high and (open_low or open_high):
        return
    ops = (">" if open_low else ">=", "<" if open_high else "<=")
    pattern = Pattern.parse({"f": [{"numeric": [ops[0], low, ops[1], high]}]})
    above = value > low if open_low else value >= low
    below = value < high if open_high else value <= high
    assert pattern.matches({"f": value}) is (above and below)
