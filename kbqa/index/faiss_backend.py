"""FAISS backend: inner-product indexes by factory string, on the GPU when FAISS sees one.

Rows of the FAISS index line up with the IdTable; the CPU index is the one saved, so a folder
built on a GPU machine loads on a CPU-only one. ``vectors.npy`` is written next to
``faiss.index`` so that the exact backend can open the same folder as a reference and updates
can reuse vectors without re-embedding.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError, missing_extra
from kbqa.index.base import SearchResult, check_vectors
from kbqa.index.ids import IdTable


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise missing_extra("faiss-cpu (or faiss-gpu-cu12)", "faiss") from None
    return faiss


def gpu_count(faiss: Any) -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


class FaissIndex:
    def __init__(self, index: Any, dim: int, cfg: IndexConfig, ids: IdTable) -> None:
        self.faiss = import_faiss()
        self.index = index
        self.dim = dim
        self.cfg = cfg
        self.ids = ids
        self._gpu: Any = None
        n_gpu = gpu_count(self.faiss)
        if cfg.use_gpu == "always" and n_gpu == 0:
            raise KbqaError("index.use_gpu = 'always' but FAISS sees no GPU (is faiss-gpu-cu12 installed?)")
        self.on_gpu = n_gpu > 0 and cfg.use_gpu != "never"

    @classmethod
    def create(cls, dim: int, cfg: IndexConfig) -> FaissIndex:
        faiss = import_faiss()
        try:
            index = faiss.index_factory(dim, cfg.factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise KbqaError(f"index.factory {cfg.factory!r} is not a valid FAISS factory string: {exc}") from None
        return cls(index, dim, cfg, IdTable())

    def __len__(self) -> int:
        return len(self.ids)

    def _search_index(self) -> Any:
        if not self.on_gpu:
            return self.index
        if self._gpu is None:
            self._gpu = self.faiss.index_cpu_to_all_gpus(self.index)
        return self._gpu

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        if not self.index.is_trained:
            self.index.train(vectors)
        self.ids.extend(ids)  # raises on duplicates before FAISS is touched
        self.index.add(vectors)
        self._gpu = None

    def remove(self, ids: Collection[str]) -> int:
        rows = self.ids.rows_of(ids)
        if not rows:
            return 0
        removed = self.index.remove_ids(self.faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64)))
        if removed != len(rows):  # pragma: no cover - kinds that do not compact rows
            raise KbqaError(f"FAISS index {self.cfg.factory!r} cannot remove vectors in place; rebuild it")
        self.ids.remove_rows(rows)
        self._gpu = None
        return len(rows)

    def vectors(self) -> np.ndarray:
        if len(self.ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_n(0, len(self.ids))

    def search(self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None) -> SearchResult:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(self.ids)
        if n == 0 or k < 1:
            return [[] for _ in range(len(queries))]
        if allowed is not None:
            rows = np.asarray(self.ids.rows_of(allowed), dtype=np.int64)
            if len(rows) == 0:
                return [[] for _ in range(len(queries))]
            k = min(k, len(rows))
            params = self.faiss.SearchParameters(sel=self.faiss.IDSelectorBatch(rows))
            scores, labels = self.index.search(queries, k, params=params)  # selectors: CPU path
        else:
            k = min(k, n)
            scores, labels = self._search_index().search(queries, k)
        return [
            [(self.ids[int(r)], float(s)) for s, r in zip(srow, lrow, strict=True) if r >= 0]
            for srow, lrow in zip(scores, labels, strict=True)
        ]

    def save(self, folder: Path) -> None:
        self.faiss.write_index(self.index, str(folder / "faiss.index"))
        np.save(folder / "vectors.npy", self.vectors(), allow_pickle=False)
        self.ids.save(folder / "ids.json")

    @classmethod
    def load(cls, folder: Path, cfg: IndexConfig, dim: int) -> FaissIndex:
        faiss = import_faiss()
        index = faiss.read_index(str(folder / "faiss.index"))
        if index.d != dim:
            raise KbqaError(f"{folder}/faiss.index has dimension {index.d}, the manifest says {dim}")
        return cls(index, dim, cfg, IdTable.load(folder / "ids.json"))
