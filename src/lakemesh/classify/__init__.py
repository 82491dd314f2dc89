"""Sensitive-data classification: recommended tags for columns, with reasons.

Recognisers read a bounded sample of a column plus its name and description and say
what it holds (``recognisers.classify_table``); a domain declares its own in a YAML
file (``custom.load_recognisers``). Results keep counts and reasons, never values.
"""

from lakemesh.classify.custom import load_recognisers
from lakemesh.classify.recognisers import (
    HIGH,
    RECOMMEND,
    ColumnResult,
    Finding,
    Recogniser,
    Registry,
    classify_column,
    classify_table,
    default_registry,
)

__all__ = [
    "HIGH",
    "RECOMMEND",
    "ColumnResult",
    "Finding",
    "Recogniser",
    "Registry",
    "classify_column",
    "classify_table",
    "default_registry",
    "load_recognisers",
]
