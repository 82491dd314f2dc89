"""lakemesh: an open-source data mesh with central governance.

``Mesh`` is imported on first use, not here: the command line imports this package on
every start, and most commands (``--help``, ``--version``) need none of what ``Mesh``
pulls in (SQLAlchemy, pyarrow, sqlglot).
"""

from __future__ import annotations

from lakemesh.errors import LakemeshError

#: Not ``typing.TYPE_CHECKING``: importing ``typing`` here would widen the window in which
#: a Ctrl-C at start-up escapes the CLI's handler as a traceback.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from lakemesh.mesh import Mesh

__all__ = ["LakemeshError", "Mesh"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Mesh":
        from lakemesh.mesh import Mesh

        return Mesh
    raise AttributeError(f"module 'lakemesh' has no attribute {name!r}")
