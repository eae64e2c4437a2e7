"""Vector indexes (backends by name) and the on-disk, versioned index folder."""

from kbqa.index.base import VectorIndex
from kbqa.index.factory import create_index, load_index

__all__ = ["VectorIndex", "create_index", "load_index"]
