"""FAISS backend: inner-product indexes by factory string or preset, on the GPU when FAISS sees one.

Rows line up with the IdTable. ``vectors.npy`` (float32, the embedder's output) is written next to
``faiss.index`` so that the exact backend can open the same folder as a reference, updates reuse
vectors without re-embedding, and compressed kinds re-score candidates against it (memory-mapped).
The CPU index is the one saved, so a folder built on a GPU machine loads on a CPU-only one.

``Flat`` (the default, :class:`FaissIndex`) keeps its vectors in FAISS and is searched exactly.
Every other kind is a :class:`~kbqa.index.faiss_approx.TrainedFaissIndex`, which also keeps
``labels.npy`` and ``index.json``. ``FaissIndex.create`` and ``FaissIndex.load`` pick the class.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError
from kbqa.index.protocol import SearchResult, check_vectors
from kbqa.index.faiss_common import FaissBase, gpu_count, import_faiss, is_flat, make_index, random_access, selector_for
from kbqa.index.faiss_approx import TrainedFaissIndex, TrainedState
from kbqa.index.ids import IdTable

__all__ = ["FaissIndex", "TrainedFaissIndex", "gpu_count", "import_faiss", "is_flat"]


class FaissIndex(FaissBase):
    """Exact inner-product search in a FAISS ``Flat`` index (vectors kept by FAISS)."""

    def __init__(self, index: Any, dim: int, cfg: IndexConfig, ids: IdTable) -> None:
        super().__init__(index, dim, cfg, ids, "compact")

    @classmethod
    def create(cls, dim: int, cfg: IndexConfig) -> FaissIndex | TrainedFaissIndex:
        """An empty index of ``cfg.factory``: Flat here, any other kind a TrainedFaissIndex."""
        if not is_flat(cfg.factory):
            return TrainedFaissIndex.create(dim, cfg)
        return cls(make_index(import_faiss(), dim, "Flat", cfg.factory), dim, cfg, IdTable())

    # ---- adding and removing ---------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
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

    def tombstones(self) -> int:
        return 0

    def rebuild(self) -> None:
        """Nothing to rebuild: Flat removes vectors in place."""

    # ---- search -------------------------------------------------------------------------------
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
            rows = self.ids.rows_array(allowed)
            if len(rows) == 0:
                return [[] for _ in range(len(queries))]
            k = min(k, len(rows))
            params = self.faiss.SearchParameters(sel=selector_for(self, rows))
            scores, labels = self.index.search(queries, k, params=params)  # selectors: CPU path
        else:
            k = min(k, n)
            if self.on_gpu and self._gpu is None:
                self._gpu = self.faiss.index_cpu_to_all_gpus(self.index)
            scores, labels = (self._gpu if self.on_gpu else self.index).search(queries, k)
        return [
            [(self.ids[int(r)], float(s)) for s, r in zip(srow, lrow, strict=True) if r >= 0]
            for srow, lrow in zip(scores, labels, strict=True)
        ]

    # ---- files ----------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the manifest records about this index: nothing extra for Flat."""
        return {}

    def save(self, folder: Path) -> None:
        self._write(folder)

    @classmethod
    def load(cls, folder: Path, cfg: IndexConfig, dim: int) -> FaissIndex | TrainedFaissIndex:
        """Open a saved index as the class it was built as; refuses a config that asks for another kind."""
        faiss = import_faiss()
        state_path = folder / "index.json"
        state = TrainedState.from_json(json.loads(state_path.read_text(encoding="utf-8")), state_path) \
            if state_path.is_file() else None
        # IVF kinds: the inverted lists stay in the file, memory-mapped read-only (page cache, not heap);
        # TrainedFaissIndex reads a private copy before anything changes them
        mapped = state is not None and state.structure == "ivf"
        index = faiss.read_index(str(folder / "faiss.index"), faiss.IO_FLAG_MMAP if mapped else 0)
        if index.d != dim:
            raise KbqaError(f"{folder}/faiss.index has dimension {index.d}, the manifest says {dim}")
        built = state.requested if state else "Flat"
        asked = cfg.factory.strip().lower()
        if asked not in (built.strip().lower(), str(state.factory if state else "Flat").lower()):
            raise KbqaError(
                f"the index at {folder} was built as {built!r}"
                + (f" ({state.factory})" if state else "")
                + f", but the config asks for index.factory = {cfg.factory!r}. Drop index.factory from the "
                "config to use the index as built, or rebuild it: `kbqa index build SOURCE --index DIR --overwrite`"
            )
        ids = IdTable.load(folder / "ids.json")
        if state is None:
            return cls(index, dim, cfg, ids)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        stored = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
        random_access(stored)
        loaded = TrainedFaissIndex(index, dim, cfg, ids, state, labels=labels, stored=stored)
        loaded.mapped_from = folder / "faiss.index" if mapped else None
        return loaded

