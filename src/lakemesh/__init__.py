"""lakemesh: an open-source data mesh with central governance."""

from lakemesh.errors import LakemeshError
from lakemesh.mesh import Mesh

__all__ = ["LakemeshError", "Mesh"]
__version__ = "0.1.0"
