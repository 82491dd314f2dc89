"""Event patterns in Amazon EventBridge's content-filtering language, so that a routing
rule written for EventBridge (or for event-ruler, its open-source engine) means the same
here::

    {"type": ["catalog.table.created"],
     "detail": {"table": [{"prefix": "sales."}], "partitions": [{"numeric": [">", 0]}]}}

Every key of a pattern must match (AND). A leaf is a non-empty array of alternatives
(OR): exact values, or one-key matcher objects. An object descends into the event's
object; ``"$or": [{...}, {...}]`` offers whole sub-patterns as alternatives. Where the
event holds an array, one element matching is enough, and the fields of one
sub-pattern must match within the same element (event-ruler's array-consistent
matching). A field whose value is an object is not a leaf: ``exists`` looks only at
leaves, as in EventBridge.

A pattern is validated and compiled once into closures and frozensets; matching never
parses anything. Every refusal is one ``InvalidInput`` line naming where the pattern is
wrong. The limits below keep both compilation and matching cheap whatever the author
writes: wildcards are matched without regular expressions, in time linear in the
pattern times the value.
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, final

from lakemesh.errors import InvalidInput, first_line

#: More leaf values than this in one pattern is refused (each anything-but value counts).
MAX_MATCHERS: Final = 256
#: Objects nested deeper than this (a ``$or`` alternative is a level) are refused.
MAX_DEPTH: Final = 8
#: Any key or string value longer than this is refused.
MAX_STRING: Final = 1024
#: JSON text longer than this is refused before it is parsed.
MAX_TEXT: Final = 65536

MATCHERS: Final = (
    "anything-but",
    "cidr",
    "equals-ignore-case",
    "exists",
    "numeric",
    "prefix",
    "suffix",
    "wildcard",
)
_LEAF = "a leaf must be a non-empty array of values or matchers"
_ANYTHING_BUT = (
    '"anything-but" needs a string, a number, an array of strings or of numbers, or one of'
    ' {"prefix"|"suffix"|"equals-ignore-case"|"wildcard": string or array of strings}'
)
_NUMERIC = (
    '"numeric" needs [operator, number] or [">" or ">=", number, "<" or "<=", number]'
    " (operators: = < <= > >=)"
)
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

Check = Callable[[Any], bool]
"""A test of one event value: a scalar, a list, an object, or ``_MISSING``."""
ObjectCheck = Callable[[Mapping[str, Any]], bool]


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_MISSING: Final = _Sentinel("<missing>")
#: Set keys for booleans: ``True == 1`` in Python, but not in JSON.
_TRUE: Final = _Sentinel("true")
_FALSE: Final = _Sentinel("false")
#: The key of a value no exact set can hold (a non-JSON object in an event).
_NOTHING: Final = _Sentinel("<no key>")


@final
class Pattern:
    """A compiled event pattern. Two patterns are equal when their canonical texts are
    (compact JSON, sorted keys), so a stored rule can be compared with a submitted one."""

    __slots__ = ("_check", "_text")
    _text: str
    _check: ObjectCheck

    def __init__(self, text: str, check: ObjectCheck) -> None:
        """Internal: use ``Pattern.parse`` or ``Pattern.everything``."""
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_check", check)

    @classmethod
    def parse(cls, value: str | Mapping[str, Any], source: str = "pattern") -> Pattern:
        """Validate and compile JSON text or an already parsed mapping; ``source`` names
        the pattern in error messages."""
        if isinstance(value, str):
            data = _load(value, source)
        elif isinstance(value, Mapping):
            data = value
        else:
            raise InvalidInput(f"{source}: a pattern is JSON text or a mapping")
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{source}: a pattern must be a JSON object")
        if not data:
            raise InvalidInput(
                f"{source}: an empty pattern would match every event; match at least one "
                'field, e.g. {"type": [{"prefix": ""}]} for every event'
            )
        check = _Compiler(source).object(data, "", 1)
        text = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=dict
        )
        return cls(text, check)

    @classmethod
    def everything(cls) -> Pattern:
        """The pattern that matches every event: explicit, because ``{}`` written by
        mistake must not route everything."""
        return cls("{}", _always)

    @property
    def text(self) -> str:
        return self._text

    def matches(self, envelope: Mapping[str, Any]) -> bool:
        return self._check(envelope)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __repr__(self) -> str:
        return f"Pattern({self._text})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Pattern is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a Pattern is immutable")


def _always(envelope: Mapping[str, Any]) -> bool:
    return True


# --------------------------------------------------------------------------- parsing


class _NotJson(ValueError):
    """Valid JSON syntax that is still not JSON we take: a repeated key, NaN."""


def _load(text: str, source: str) -> Any:
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{source}: longer than {MAX_TEXT} characters")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{source}: not valid JSON: {error.msg} (line {error.lineno} column {error.colno})"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # _NotJson, or an integer too long to convert
        raise InvalidInput(f"{source}: not valid JSON: {first_line(error)}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _NotJson(f"duplicate key {_show(key)}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number")


# --------------------------------------------------------------------------- compiling


class _Compiler:
    """One pass over a pattern: validates it and builds its closures."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.values = 0

    def refuse(self, path: str, what: str) -> InvalidInput:
        where = f"at {path}: " if path else ""
        return InvalidInput(f"{self.source}: {where}{what}")

    def object(self, node: Mapping[Any, Any], path: str, depth: int) -> ObjectCheck:
        if depth > MAX_DEPTH:
            raise self.refuse(path, f"nested deeper than {MAX_DEPTH} levels")
        if not node:
            raise self.refuse(path, "an empty object is not allowed")
        fields: list[tuple[int, str, Check]] = []
        alternatives: list[tuple[ObjectCheck, ...]] = []
        for key, value in node.items():
            if not isinstance(key, str):
                raise self.refuse(path, f"keys must be strings, not {type(key).__name__}")
            self.string(key, path)
            child = f"{path}.{_segment(key)}" if path else _segment(key)
            if key == "$or":
                alternatives.append(self.alternatives(value, child, depth))
            elif isinstance(value, Mapping):
                fields.append((2, key, _descend(self.object(value, child, depth + 1))))
            else:
                cost, check = self.leaf(value, child)
                fields.append((cost, key, check))
        # cheap and selective tests first: most events fail on an exact leaf
        fields.sort(key=lambda field: field[0])
        return _all_of([(key, check) for _, key, check in fields], alternatives)

    def alternatives(self, value: Any, path: str, depth: int) -> tuple[ObjectCheck, ...]:
        if (
            not isinstance(value, list | tuple)
            or len(value) < 2
            or not all(isinstance(item, Mapping) for item in value)
        ):
            raise self.refuse(path, '"$or" needs an array of at least two objects')
        return tuple(self.object(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))

    def leaf(self, values: Any, path: str) -> tuple[int, Check]:
        """A leaf's test and its cost rank (0: exact values only)."""
        if not isinstance(values, list | tuple) or not values:
            raise self.refuse(path, _LEAF)
        leaf = _Leaf()
        for entry in values:
            self.count(path)
            if isinstance(entry, Mapping):
                self.matcher(entry, path, leaf)
            elif isinstance(entry, list | tuple):
                raise self.refuse(path, f"{_LEAF}, not of arrays")
            else:
                leaf.exact.add(_key(self.scalar(entry, path)))
        return leaf.build()

    def matcher(self, entry: Mapping[Any, Any], path: str, leaf: _Leaf) -> None:
        if len(entry) != 1:
            raise self.refuse(
                path, f"a matcher is an object with exactly one key, not {len(entry)}"
            )
        ((name, arg),) = entry.items()
        if name == "prefix":
            text, ignore_case = self.affix(name, arg, path)
            (leaf.iprefixes if ignore_case else leaf.prefixes).append(text)
        elif name == "suffix":
            text, ignore_case = self.affix(name, arg, path)
            (leaf.isuffixes if ignore_case else leaf.suffixes).append(text)
        elif name == "equals-ignore-case":
            leaf.folded.add(self.text(name, arg, path).casefold())
        elif name == "wildcard":
            leaf.checks.append(_string_check(self.wildcard(arg, path)))
        elif name == "anything-but":
            leaf.checks.append(self.anything_but(arg, path))
        elif name == "numeric":
            leaf.checks.append(self.numeric(arg, path))
        elif name == "exists":
            if not isinstance(arg, bool):
                raise self.refuse(path, '"exists" needs true or false')
            leaf.exists = leaf.exists or arg
            leaf.absent = leaf.absent or not arg
        elif name == "cidr":
            leaf.networks.append(self.cidr(arg, path))
        else:
            raise self.refuse(
                path, f"unknown matcher {_show(name)} (expected one of {', '.join(MATCHERS)})"
            )

    # ----------------------------------------------------------------- matcher arguments

    def affix(self, name: str, arg: Any, path: str) -> tuple[str, bool]:
        """A prefix or suffix: a string, or ``{"equals-ignore-case": string}``."""
        if isinstance(arg, str):
            return self.string(arg, path), False
        if (
            isinstance(arg, Mapping)
            and len(arg) == 1
            and isinstance(arg.get("equals-ignore-case"), str)
        ):
            return self.string(arg["equals-ignore-case"], path).casefold(), True
        raise self.refuse(path, f'"{name}" needs a string or {{"equals-ignore-case": string}}')

    def text(self, name: str, arg: Any, path: str) -> str:
        if not isinstance(arg, str):
            raise self.refuse(path, f'"{name}" needs a string')
        return self.string(arg, path)

    def wildcard(self, arg: Any, path: str) -> Callable[[str], bool]:
        """``*`` matches any run of characters; ``\\*`` and ``\\\\`` are a literal star
        and backslash; two stars in a row are refused, as in EventBridge."""
        text = self.text("wildcard", arg, path)
        segments: list[str] = []
        current: list[str] = []
        star = False
        i = 0
        while i < len(text):
            char = text[i]
            if char == "\\":
                escaped = text[i + 1 : i + 2]
                if escaped not in ("*", "\\"):
                    raise self.refuse(path, '"wildcard": a backslash may only escape * or \\')
                current.append(escaped)
                star = False
                i += 2
                continue
            if char == "*":
                if star:
                    raise self.refuse(path, '"wildcard": consecutive * are not allowed')
                segments.append("".join(current))
                current = []
                star = True
            else:
                current.append(char)
                star = False
            i += 1
        segments.append("".join(current))
        return _glob(segments)

    def anything_but(self, arg: Any, path: str) -> Check:
        if isinstance(arg, Mapping):
            if len(arg) != 1:
                raise self.refuse(path, _ANYTHING_BUT)
            ((name, inner),) = arg.items()
            texts = self.texts(inner, path)
            if name in ("prefix", "suffix"):
                if not all(texts):
                    raise self.refuse(path, f'"anything-but" needs a non-empty "{name}"')
                affixes = tuple(texts)
                test = str.startswith if name == "prefix" else str.endswith
                return _unless_string(lambda s: test(s, affixes))
            if name == "equals-ignore-case":
                folded = frozenset(t.casefold() for t in texts)
                return _unless_string(lambda s: s.casefold() in folded)
            if name == "wildcard":
                globs = [self.wildcard(t, path) for t in texts]
                return _unless_string(lambda s: any(glob(s) for glob in globs))
            raise self.refuse(path, _ANYTHING_BUT)
        items = list(arg) if isinstance(arg, list | tuple) else [arg]
        self.values += len(items) - 1
        if self.values > MAX_MATCHERS:
            raise self.refuse(path, f"more than {MAX_MATCHERS} values in one pattern")
        strings = all(isinstance(item, str) for item in items)
        numbers = all(_is_number(item) for item in items)
        if not items or not (strings or numbers):
            raise self.refuse(path, _ANYTHING_BUT)
        excluded = frozenset(_key(self.scalar(item, path)) for item in items)
        return lambda value: _key(value) not in excluded

    def texts(self, arg: Any, path: str) -> list[str]:
        items = list(arg) if isinstance(arg, list | tuple) else [arg]
        if not items or not all(isinstance(item, str) for item in items):
            raise self.refuse(path, _ANYTHING_BUT)
        self.values += len(items) - 1
        if self.values > MAX_MATCHERS:
            raise self.refuse(path, f"more than {MAX_MATCHERS} values in one pattern")
        return [self.string(item, path) for item in items]

    def numeric(self, arg: Any, path: str) -> Check:
        if not isinstance(arg, list | tuple) or len(arg) not in (2, 4):
            raise self.refuse(path, _NUMERIC)
        op, bound = arg[0], arg[1]
        if op not in _COMPARE or not _is_number(bound):
            raise self.refuse(path, _NUMERIC)
        first = _COMPARE[op]
        low = self.number(bound, path)
        if len(arg) == 2:
            return lambda value: _is_number(value) and first(value, low)
        op2, bound2 = arg[2], arg[3]
        if op not in (">", ">=") or op2 not in ("<", "<=") or not _is_number(bound2):
            raise self.refuse(path, _NUMERIC)
        second = _COMPARE[op2]
        high = self.number(bound2, path)
        if low > high or (low == high and (op, op2) != (">=", "<=")):
            raise self.refuse(path, f'"numeric": the range {op} {low} {op2} {high} is empty')
        return lambda value: _is_number(value) and first(value, low) and second(value, high)

    def cidr(self, arg: Any, path: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        text = self.text("cidr", arg, path)
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise self.refuse(
                path, f'"cidr" needs a network such as 10.0.0.0/24, not {_show(text)}'
            ) from None

    # ----------------------------------------------------------------- scalars, limits

    def scalar(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.string(value, path)
        if value is None or isinstance(value, bool):
            return value
        if _is_number(value):
            return self.number(value, path)
        raise self.refuse(path, f"{type(value).__name__} is not a JSON value")

    def number(self, value: Any, path: str) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise self.refuse(path, f"{value} is not a finite number")
        return value

    def string(self, text: str, path: str) -> str:
        if len(text) > MAX_STRING:
            raise self.refuse(path, f"a string is longer than {MAX_STRING} characters")
        return text

    def count(self, path: str) -> None:
        self.values += 1
        if self.values > MAX_MATCHERS:
            raise self.refuse(path, f"more than {MAX_MATCHERS} values in one pattern")


class _Leaf:
    """The alternatives of one leaf, gathered by kind so each kind is one lookup."""

    def __init__(self) -> None:
        self.exact: set[Any] = set()
        self.folded: set[str] = set()
        self.prefixes: list[str] = []
        self.suffixes: list[str] = []
        self.iprefixes: list[str] = []
        self.isuffixes: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.checks: list[Check] = []
        self.exists = False  #: exists: true (any present leaf value matches)
        self.absent = False  #: exists: false (a missing leaf matches)

    def build(self) -> tuple[int, Check]:
        exact = frozenset(self.exact)
        checks = list(self.checks)
        if self.folded:
            folded = frozenset(self.folded)
            checks.append(_string_check(lambda s: s.casefold() in folded))
        if self.prefixes:
            prefixes = tuple(self.prefixes)
            checks.append(_string_check(lambda s: s.startswith(prefixes)))
        if self.suffixes:
            suffixes = tuple(self.suffixes)
            checks.append(_string_check(lambda s: s.endswith(suffixes)))
        if self.iprefixes:
            iprefixes = tuple(self.iprefixes)
            checks.append(_string_check(lambda s: s.casefold().startswith(iprefixes)))
        if self.isuffixes:
            isuffixes = tuple(self.isuffixes)
            checks.append(_string_check(lambda s: s.casefold().endswith(isuffixes)))
        if self.networks:
            checks.append(_string_check(_in_networks(tuple(self.networks))))
        scalar: Check
        if not checks:
            scalar = _exact(exact)
        elif not exact and len(checks) == 1:
            scalar = checks[0]
        else:
            scalar = _either(exact, tuple(checks))
        cost = 0 if not checks and not self.exists and not self.absent else 1
        return cost, _leaf(scalar, self.exists, self.absent)


# --------------------------------------------------------------------------- closures


def _all_of(
    fields: list[tuple[str, Check]], alternatives: list[tuple[ObjectCheck, ...]]
) -> ObjectCheck:
    if not alternatives and len(fields) == 1:
        ((key, check),) = fields

        def one(obj: Mapping[str, Any]) -> bool:
            return check(obj.get(key, _MISSING))

        return one

    def every(obj: Mapping[str, Any]) -> bool:
        get = obj.get
        for key, check in fields:
            if not check(get(key, _MISSING)):
                return False
        for options in alternatives:
            for option in options:
                if option(obj):
                    break
            else:
                return False
        return True

    return every


def _descend(sub: ObjectCheck) -> Check:
    """A field whose pattern is an object. A missing field, a scalar or an array without
    objects is an empty object to the sub-pattern: only ``exists: false`` can hold."""
    absent = sub({})

    def check(value: Any) -> bool:
        if value.__class__ is dict:
            return sub(value)
        if isinstance(value, list | tuple):
            found = False
            for item in _flat(value):
                if isinstance(item, Mapping):
                    if sub(item):
                        return True
                    found = True
            return absent if not found else False
        if isinstance(value, Mapping):
            return sub(value)
        return absent

    return check


def _leaf(scalar: Check, exists: bool, absent: bool) -> Check:
    """A leaf's test of an event value: a scalar is tested, an array matches when any of
    its scalars does, and a missing value, an object or an array without scalars is no
    leaf (only ``exists: false`` matches it)."""

    def check(value: Any) -> bool:
        kind = value.__class__
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return exists or scalar(value)
        if value is _MISSING or kind is dict:
            return absent
        if isinstance(value, list | tuple):
            found = False
            for item in _flat(value):
                if not isinstance(item, Mapping):
                    if exists or scalar(item):
                        return True
                    found = True
            return absent if not found else False
        if isinstance(value, Mapping):
            return absent
        return exists or scalar(value)

    return check


def _exact(values: frozenset[Any]) -> Check:
    def check(value: Any) -> bool:
        return (value if value.__class__ is str else _key(value)) in values

    return check


def _either(values: frozenset[Any], checks: tuple[Check, ...]) -> Check:
    def check(value: Any) -> bool:
        if _key(value) in values:
            return True
        return any(test(value) for test in checks)

    return check


def _string_check(test: Callable[[str], bool]) -> Check:
    """String matchers (prefix, wildcard, cidr...) match only string values."""

    def check(value: Any) -> bool:
        return isinstance(value, str) and test(value)

    return check


def _unless_string(test: Callable[[str], bool]) -> Check:
    """An anything-but of strings: it excludes only strings, so a number, a boolean or
    null is "anything but" them (as in EventBridge, where only a value of the excluded
    kind can be excluded)."""

    def check(value: Any) -> bool:
        return not (isinstance(value, str) and test(value))

    return check


def _glob(segments: list[str]) -> Callable[[str], bool]:
    """Literal segments separated by ``*``: the first anchors the start, the last the
    end, and each middle one is found left to right (greedy leftmost is exact for ``*``
    alone), so matching is linear in the value's length times the pattern's."""
    if len(segments) == 1:
        (whole,) = segments
        return lambda text: text == whole
    first, last, middle = segments[0], segments[-1], tuple(segments[1:-1])
    shortest = sum(len(s) for s in segments)

    def glob(text: str) -> bool:
        if len(text) < shortest or not text.startswith(first) or not text.endswith(last):
            return False
        at, end = len(first), len(text) - len(last)
        for segment in middle:
            found = text.find(segment, at, end)
            if found < 0:
                return False
            at = found + len(segment)
        return True

    return glob


def _in_networks(
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> Callable[[str], bool]:
    def inside(text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address in network for network in networks)

    return inside


def _flat(values: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    """An event array's items, nested arrays crushed out as in EventBridge."""
    for item in values:
        if isinstance(item, list | tuple):
            yield from _flat(item)
        else:
            yield item


def _key(value: Any) -> Any:
    """The set key of a JSON scalar: itself, except booleans (``True == 1`` in Python)
    and non-JSON objects (which no exact value can equal)."""
    kind = value.__class__
    if kind is str or kind is int or kind is float or value is None:
        return value
    if kind is bool:
        return _TRUE if value else _FALSE
    if isinstance(value, str):
        return str.__str__(value)
    if _is_number(value):
        return float(value) if isinstance(value, float) else int(value)
    return _NOTHING


def _is_number(value: Any) -> bool:
    kind = value.__class__
    if kind is int or kind is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _segment(key: str) -> str:
    """A key as a path segment, quoted when it would not read as one."""
    if key and len(key) <= 64 and all(c.isalnum() or c in "-_$@:/" for c in key):
        return key
    return _show(key)


def _show(value: Any) -> str:
    """A value for a one-line message: JSON-quoted (so no line breaks), shortened."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 64 else text[:60] + '..."'
