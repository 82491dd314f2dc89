"""``lakemesh demo``: the story of SPEC section 4, end to end, on the embedded defaults.

Each mesh step runs the real CLI (printed as ``$ lakemesh ...``) so the demo is also a
smoke test of the command-line contract. The producers' own work (landing raw files,
curating them) is plain pyarrow, as a domain's pipeline would be.

``story`` tells the steps, ``datasets`` builds the example data from the files in
``data/``, and ``model`` is the analyst's credit-risk model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lakemesh.demo.datasets import curate_credit, find_data, holdings
from lakemesh.demo.model import ModelScore, train_credit_model
from lakemesh.demo.story import JOIN_SQL, Story
from lakemesh.errors import InvalidInput

__all__ = [
    "JOIN_SQL",
    "ModelScore",
    "Story",
    "curate_credit",
    "find_data",
    "holdings",
    "run_demo",
    "train_credit_model",
]


def run_demo(directory: str | None = None, home: str | None = None) -> tuple[Path, Path]:
    """Tell the story in a fresh directory; returns it and the mesh home."""
    if directory:
        base = Path(directory).expanduser().absolute()
        if base.exists() and any(base.iterdir()):
            raise InvalidInput(f"demo directory {base} is not empty")
        base.mkdir(parents=True, exist_ok=True)
    else:
        base = Path(tempfile.mkdtemp(prefix="lakemesh-demo-"))
    story = Story(base, Path(home).expanduser().absolute() if home else None)
    story.tell()
    return base, story.home
