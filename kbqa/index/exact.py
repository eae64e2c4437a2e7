"""Exact inner-product search in numpy: the reference every other backend is tested against."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from kbqa.index.protocol import SearchResult, check_vectors
from kbqa.index.ids import IdTable
from kbqa.numeric import top_k


class ExactIndex:
    """Brute-force top-k by matrix product. Stores vectors.npy + ids.json."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.ids = IdTable()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        self.ids.extend(ids)
        self.vectors = np.concatenate([self.vectors, vectors]) if len(self.vectors) else vectors.copy()

    def remove(self, ids: Collection[str]) -> int:
        rows = self.ids.rows_of(ids)
        if not rows:
            return 0
        keep = np.ones(len(self.ids), dtype=bool)
        keep[rows] = False
        self.vectors = self.vectors[keep]
        self.ids.remove_rows(rows)
        return len(rows)

    def search(self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None) -> SearchResult:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        n = len(self.ids)
        if n == 0 or k < 1:
            return [[] for _ in range(len(queries))]
        scores = queries @ self.vectors.T
        if allowed is not None:
            mask = np.full(n, -np.inf, dtype=np.float32)
            mask[self.ids.rows_of(allowed)] = 0.0
            scores = scores + mask
            n = min(n, len(allowed))
        k = min(k, n)
        out: SearchResult = []
        for row in scores:
            top = top_k(row, k)  # score descending, then id position (deterministic ties)
            out.append([(self.ids[i], float(row[i])) for i in top if np.isfinite(row[i])])
        return out

    def save(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.vectors, allow_pickle=False)
        self.ids.save(folder / "ids.json")

    @classmethod
    def load(cls, folder: Path, dim: int) -> ExactIndex:
        index = cls(dim)
        index.vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
        index.ids = IdTable.load(folder / "ids.json")
        return index
