"""The VectorIndex protocol every backend implements, and the input check they share.

Backends keep the string id of every vector next to it: callers never see row positions. This
module imports no backend (kbqa.index.base picks them by name), so backends can import it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kbqa.errors import KbqaError

SearchResult = list[list[tuple[str, float]]]


class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None: ...

    def remove(self, ids: Collection[str]) -> int: ...

    def search(self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None) -> SearchResult:
        """Top-``k`` (id, inner product) per query, best first; ``k`` is clamped to the index size."""
        ...

    def save(self, folder: Path) -> None: ...


def check_vectors(ids: Sequence[str], vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise KbqaError(f"expected vectors of shape (n, {dim}), got {vectors.shape}")
    if len(ids) != len(vectors):
        raise KbqaError(f"{len(ids)} ids for {len(vectors)} vectors")
    return vectors
