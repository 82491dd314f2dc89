"""A domain's own recognisers, declared in a YAML file: a pattern, an optional
validator, column-name patterns. No code runs from the file.

    recognisers:
      - name: employee_id             # [a-z][a-z0-9_]*, not a builtin's name
        tag: pii=true                 # the default
        pattern: '^EMP-[0-9]{6}$'     # matched against the whole trimmed value
        validator: luhn               # optional: a python-stdnum module, or "phone"
        names: ['emp(loyee)?_?(id|no|number)']  # optional column-name patterns
        needs_name: false             # true: values count only under a matching name
        description: staff numbers

Patterns are RE2 (Arrow's regex engine): matching takes linear time whatever the
pattern, so a file cannot make classification hang; lookarounds and backreferences are
refused. A pattern that matches ordinary values (``12345``, ``hello``) must set
``needs_name``. Every refusal is one ``InvalidInput`` line naming the file and line.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from lakemesh.classify.contact import REGIONS, valid_phone
from lakemesh.classify.evidence import PII, Evidence, Recogniser
from lakemesh.classify.naming import ColumnText, NamePatterns
from lakemesh.classify.sample import INTEGER, TEXT, Sample, Tally
from lakemesh.errors import InvalidInput

KEYS = ("name", "tag", "pattern", "validator", "names", "needs_name", "description")
MAX_PATTERN = 300
MAX_NAMES = 20
MAX_RECOGNISERS = 100
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TAG = re.compile(r"^[a-z][a-z0-9_]{0,62}=[A-Za-z0-9_.\-]{1,63}$")
_VALIDATOR = re.compile(r"^[a-z]{2,}(\.[a-z_]+)?$")
#: Values any broad pattern would match: a value-led recogniser must not.
_ORDINARY = ("12345", "hello", "2024-01-01", "ABC123", "1", "x", "yes", "3.14")


class PatternRecogniser(Recogniser):
    """A recogniser declared in a file: values matching ``pattern`` (and passing the
    validator) are strong evidence, or, with ``needs_name``, evidence only under a
    column name that matches ``names``."""

    builtin = False
    kinds = frozenset({TEXT, INTEGER})

    def __init__(
        self,
        name: str,
        pattern: str,
        *,
        tag: str = PII,
        validator: str | None = None,
        names: tuple[str, ...] = (),
        needs_name: bool = False,
        description: str = "",
    ) -> None:
        self.name = name
        self.label = name.replace("_", " ")
        self.tag = tag
        self.pattern = pattern
        self.validator = validator
        self.name_regexes = names
        self.needs_name = needs_name
        self.description = description or f"declared recogniser {name}"
        self.names = NamePatterns()
        self._regex = f"^(?:{pattern})$"
        self._check = _validator(validator) if validator else None
        self.strength = 0.0 if needs_name else (0.9 if validator else 0.78)
        self.named_strength = 0.9 if needs_name else 0.0

    def name_evidence(self, column: ColumnText) -> str | None:
        if column.derived or not self.name_regexes:
            return None
        for where, texts in (
            ("name", (column.name.lower(), column.name_text)),
            ("description", (column.description_text,)),
        ):
            candidates = pa.array([t for t in texts if t])
            for regex in self.name_regexes:
                if (
                    len(candidates)
                    and pc.any(
                        pc.match_substring_regex(candidates, regex, ignore_case=True)
                    ).as_py()
                ):
                    return where
        return None

    def evidence(self, sample: Sample, named: bool) -> Evidence:
        matching = sample.match(self._regex)
        what = f"match {self.label}'s pattern"
        if self._check is not None:
            tally = sample.tally(self._check, matching)
            what += f" and pass {self.validator}"
        else:
            tally = Tally(sample.weight(matching))
        if self.needs_name:
            return Evidence(Tally(0), what, tally, what)
        return Evidence(tally, what)


def _validator(name: str) -> Callable[[str], bool]:
    if name == "phone":
        return lambda v: valid_phone(v, REGIONS[:8])
    module: Any = importlib.import_module(f"stdnum.{name}")
    return module.is_valid  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- loading


def load_recognisers(text: str, source: str) -> list[Recogniser]:
    """The recognisers a domain's file declares; ``source`` names the file in errors."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or type(error).__name__
        raise _refuse(
            source, mark.line + 1 if mark else None, f"not valid YAML: {problem}"
        ) from None
    if root is None:
        raise _refuse(source, None, "the file is empty; expected 'recognisers:' with a list")
    if not isinstance(root, yaml.MappingNode):
        raise _refuse(source, _line(root), "expected a mapping with the key 'recognisers'")
    entries: yaml.Node | None = None
    for key, value in root.value:
        if _scalar(key) != "recognisers":
            raise _refuse(
                source, _line(key), f"unknown key {_scalar(key)!r} (expected 'recognisers')"
            )
        entries = value
    if entries is None or not isinstance(entries, yaml.SequenceNode):
        raise _refuse(source, _line(entries or root), "'recognisers' must be a list")
    if len(entries.value) > MAX_RECOGNISERS:
        raise _refuse(source, _line(entries), f"more than {MAX_RECOGNISERS} recognisers")
    from lakemesh.classify.recognisers import default_registry

    builtin = set(default_registry().names)
    out: list[Recogniser] = []
    for node in entries.value:
        recogniser = _one(node, source)
        if recogniser.name in builtin:
            raise _refuse(
                source, _line(node), f"{recogniser.name!r} is a builtin recogniser's name"
            )
        if any(r.name == recogniser.name for r in out):
            raise _refuse(source, _line(node), f"{recogniser.name!r} is declared twice")
        out.append(recogniser)
    return out


def _one(node: yaml.Node, source: str) -> PatternRecogniser:
    if not isinstance(node, yaml.MappingNode):
        raise _refuse(source, _line(node), "each recogniser must be a mapping")
    fields: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = _scalar(key)
        if name not in KEYS:
            raise _refuse(
                source, _line(key), f"unknown key {name!r} (expected one of {', '.join(KEYS)})"
            )
        fields[name] = value

    def text(key: str, required: bool = False) -> str | None:
        value = fields.get(key)
        if value is None:
            if required:
                raise _refuse(source, _line(node), f"missing {key!r}")
            return None
        if not isinstance(value, yaml.ScalarNode) or not value.value.strip():
            raise _refuse(source, _line(value), f"{key!r} must be a non-empty string")
        return str(value.value)

    name = text("name", required=True) or ""
    where = _line(fields["name"])
    if not _NAME.match(name):
        raise _refuse(source, where, f"name {name!r} is not of the form [a-z][a-z0-9_]*")
    pattern = text("pattern", required=True) or ""
    _check_regex(pattern, source, _line(fields["pattern"]), "pattern")
    tag = text("tag") or PII
    if not _TAG.match(tag):
        raise _refuse(source, _line(fields["tag"]), f"tag {tag!r} is not of the form key=value")
    validator = text("validator")
    if validator is not None:
        _check_validator(validator, source, _line(fields["validator"]))
    names = _names(fields.get("names"), source)
    needs_name = _flag(fields.get("needs_name"), source)
    if needs_name and not names:
        raise _refuse(
            source, _line(fields["needs_name"]), "needs_name is true but 'names' is empty"
        )
    if not needs_name and _broad(pattern):
        raise _refuse(
            source,
            _line(fields["pattern"]),
            "pattern matches ordinary values; make it specific or set needs_name: true",
        )
    description = text("description") or ""
    return PatternRecogniser(
        name,
        pattern,
        tag=tag,
        validator=validator,
        names=names,
        needs_name=needs_name,
        description=description,
    )


def _names(node: yaml.Node | None, source: str) -> tuple[str, ...]:
    if node is None:
        return ()
    items = [node] if isinstance(node, yaml.ScalarNode) else node.value
    if not isinstance(node, (yaml.ScalarNode, yaml.SequenceNode)) or len(items) > MAX_NAMES:
        raise _refuse(
            source, _line(node), f"'names' must be a list of at most {MAX_NAMES} patterns"
        )
    out = []
    for item in items:
        if not isinstance(item, yaml.ScalarNode) or not item.value.strip():
            raise _refuse(source, _line(item), "each of 'names' must be a non-empty string")
        _check_regex(item.value, source, _line(item), "names pattern")
        out.append(str(item.value))
    return tuple(out)


def _flag(node: yaml.Node | None, source: str) -> bool:
    if node is None:
        return False
    value = _scalar(node).lower()
    if value in ("true", "yes", "on"):
        return True
    if value in ("false", "no", "off"):
        return False
    raise _refuse(source, _line(node), "'needs_name' must be true or false")


def _check_regex(pattern: str, source: str, line: int | None, what: str) -> None:
    if len(pattern) > MAX_PATTERN:
        raise _refuse(source, line, f"{what} is longer than {MAX_PATTERN} characters")
    try:
        pc.match_substring_regex(pa.array([""]), f"^(?:{pattern})$")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        detail = str(error).splitlines()[0] if str(error) else "invalid"
        raise _refuse(
            source, line, f"{what} is not a valid RE2 regular expression ({detail})"
        ) from None


def _broad(pattern: str) -> bool:
    matches = pc.match_substring_regex(pa.array(["", *_ORDINARY]), f"^(?:{pattern})$")
    return bool(pc.any(matches).as_py())


def _check_validator(name: str, source: str, line: int | None) -> None:
    if name == "phone":
        return
    if not _VALIDATOR.match(name):
        raise _refuse(
            source, line, f"unknown validator {name!r} (a python-stdnum module or 'phone')"
        )
    try:
        module = importlib.import_module(f"stdnum.{name}")
    except ImportError:
        raise _refuse(
            source, line, f"unknown validator {name!r} (no python-stdnum module of that name)"
        ) from None
    if not callable(getattr(module, "is_valid", None)):
        raise _refuse(source, line, f"unknown validator {name!r} (stdnum.{name} validates nothing)")


def _scalar(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark else None


def _refuse(source: str, line: int | None, what: str) -> InvalidInput:
    where = f"{source}:{line}" if line else source
    return InvalidInput(f"{where}: {' '.join(what.split())}")
