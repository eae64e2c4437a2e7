"""FAISS backend: inner-product indexes by factory string or preset, on the GPU when FAISS sees one.

Rows line up with the IdTable. ``vectors.npy`` (float32, the embedder's output) is written next to
``faiss.index`` so that the exact backend can open the same folder as a reference, updates reuse
vectors without re-embedding, and compressed kinds re-score candidates against it (memory-mapped).
The CPU index is the one saved, so a folder built on a GPU machine loads on a CPU-only one.

``Flat`` (the default) keeps its vectors in FAISS and is searched exactly as it always was. Every
other kind (kbqa/index/kinds.py) also keeps ``labels.npy`` (the FAISS label of each row) and
``index.json`` (kind, resolved factory string, training sample); trainable kinds buffer the vectors
of a build and train once on a seeded sample of all of them, when the index is first searched or saved.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError, missing_extra
from kbqa.index.base import SearchResult, check_vectors
from kbqa.index.ids import IdTable
from kbqa.index.kinds import (
    PRESETS,
    extract_ivf,
    gpu_plan,
    preset_name,
    query_params,
    resolve_factory,
    structure,
    train_size,
)

TRAIN_SEED = 1234


def import_faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise missing_extra("faiss-cpu (or faiss-gpu-cu12)", "faiss") from None
    return faiss


def gpu_count(faiss: Any) -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


def is_flat(factory: str) -> bool:
    return factory.strip().lower() == "flat"


class FaissIndex:
    def __init__(
        self, index: Any, dim: int, cfg: IndexConfig, ids: IdTable, *,
        meta: dict[str, Any] | None = None, labels: np.ndarray | None = None, stored: np.ndarray | None = None,
    ) -> None:
        self.faiss = import_faiss()
        self.index = index  # None while a trainable kind waits for its vectors
        self.dim = dim
        self.cfg = cfg
        self.ids = ids
        self.flat = meta is None
        self.meta: dict[str, Any] = meta or {}
        self.labels = labels if labels is not None else np.zeros(0, dtype=np.int64)
        self._stored: list[np.ndarray] = [] if stored is None else [stored]
        self._gpu: Any = None
        self._cpu_stale = False  # the GPU copy holds adds the CPU index has not seen yet
        n_gpu = gpu_count(self.faiss)
        self.plan = gpu_plan(cfg, n_gpu, self.meta.get("structure", "compact"))
        self.on_gpu = self.plan != "cpu"

    @classmethod
    def create(cls, dim: int, cfg: IndexConfig) -> FaissIndex:
        faiss = import_faiss()
        if is_flat(cfg.factory):
            return cls(_factory(faiss, dim, "Flat", cfg.factory), dim, cfg, IdTable())
        name = preset_name(cfg.factory)
        meta = {"kind": name or "custom", "requested": cfg.factory, "factory": None, "structure": None}
        template = PRESETS[name].template if name else cfg.factory
        index = None
        if "{" not in template:  # no size-dependent parameter: the factory string is final now
            index = _factory(faiss, dim, template, cfg.factory)
            meta.update(factory=template, structure=structure(faiss, index))
            if not index.is_trained:
                index = None  # trained on a sample once all vectors are in
        return cls(index, dim, cfg, IdTable(), meta=meta)

    def __len__(self) -> int:
        return len(self.ids)

    # ---- adding and removing ---------------------------------------------------------------
    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        vectors = check_vectors(ids, vectors, self.dim)
        if self.flat:
            self.ids.extend(ids)  # raises on duplicates before FAISS is touched
            self.index.add(vectors)
            self._gpu = None
            return
        self.ids.extend(ids)
        self._stored.append(vectors.copy())
        if self.index is None:
            return  # trained later on a sample of everything
        self._add_to_index(vectors)

    def _add_to_index(self, vectors: np.ndarray) -> None:
        target = self._gpu if self._gpu is not None and self.meta["structure"] == "ivf" else self.index
        if self.meta["structure"] == "ivf":
            start = int(self.meta.get("next_label", 0))
            new = np.arange(start, start + len(vectors), dtype=np.int64)
            target.add_with_ids(vectors, new)
            self.meta["next_label"] = start + len(vectors)
        else:
            new = np.arange(self.index.ntotal, self.index.ntotal + len(vectors), dtype=np.int64)
            target.add(vectors)
        self.labels = np.concatenate([self.labels, new])
        if target is self._gpu:
            self._cpu_stale = True
        else:
            self._gpu = None

    def remove(self, ids: Collection[str]) -> int:
        rows = self.ids.rows_of(ids)
        if not rows:
            return 0
        if self.flat:
            removed = self.index.remove_ids(self.faiss.IDSelectorBatch(np.asarray(rows, dtype=np.int64)))
            if removed != len(rows):  # pragma: no cover - kinds that do not compact rows
                raise KbqaError(f"FAISS index {self.cfg.factory!r} cannot remove vectors in place; rebuild it")
            self.ids.remove_rows(rows)
            self._gpu = None
            return len(rows)
        keep = np.ones(len(self.ids), dtype=bool)
        keep[rows] = False
        stored = self.stored()
        if self.index is not None:
            self._sync_cpu()
            gone = self.labels[rows]
            if self.meta["structure"] == "graph":
                pass  # HNSW cannot delete: the labels stay in the graph as tombstones, masked at search
            else:
                removed = self.index.remove_ids(self.faiss.IDSelectorBatch(gone))
                if removed != len(rows):
                    raise KbqaError(f"FAISS removed {removed} of {len(rows)} vectors from {self.meta['factory']!r}")
            self.labels = self.labels[keep]
            if self.meta["structure"] == "compact":
                self.labels = np.arange(len(self.labels), dtype=np.int64)  # FAISS renumbered the rows
        self._stored = [np.asarray(stored[keep])]
        self.ids.remove_rows(rows)
        self._gpu = None
        graph = self.meta["structure"] == "graph" and self.index is not None
        if graph and self.tombstones() > self.cfg.rebuild_fraction * max(self.index.ntotal, 1):
            self.rebuild()
        return len(rows)

    def tombstones(self) -> int:
        """Vectors still in the FAISS index that no longer belong to it (HNSW after removals)."""
        return 0 if self.flat or self.index is None else int(self.index.ntotal - len(self.labels))

    def rebuild(self) -> None:
        """A fresh FAISS index of the current vectors (drops tombstones; retrains trainable kinds)."""
        if self.flat:
            return
        self.index = None
        self._gpu = None
        self.labels = np.zeros(0, dtype=np.int64)
        self.meta["next_label"] = 0
        self.meta["rebuilds"] = int(self.meta.get("rebuilds", 0)) + 1
        self.ready()

    # ---- training ------------------------------------------------------------------------------
    def stored(self) -> np.ndarray:
        """The float32 vectors in row order (memory-mapped after ``load``)."""
        if len(self._stored) != 1:
            self._stored = [np.concatenate(self._stored) if self._stored else np.zeros((0, self.dim), np.float32)]
        return self._stored[0]

    def ready(self) -> None:
        """Create and train the FAISS index if that is still pending, then add every buffered vector."""
        if self.flat or self.index is not None:
            return
        faiss = self.faiss
        n = len(self.ids)
        factory = resolve_factory(self.cfg, self.dim, n)
        index = _factory(faiss, self.dim, factory, self.cfg.factory)
        self.meta.update(factory=factory, structure=structure(faiss, index))
        self.plan = gpu_plan(self.cfg, gpu_count(faiss), self.meta["structure"])
        self.on_gpu = self.plan != "cpu"
        ivf = extract_ivf(faiss, index)
        if ivf is not None:
            self.meta["nlist"] = int(ivf.nlist)
        vectors = self.stored()
        work = self._to_gpu(index) if self.on_gpu and self.meta["structure"] != "graph" else index
        if not index.is_trained:
            size = train_size(self.cfg, faiss, index, n)
            rng = np.random.default_rng(TRAIN_SEED)
            sample = np.sort(rng.choice(n, size=size, replace=False)) if size < n else np.arange(n)
            work.train(np.ascontiguousarray(vectors[sample]))
            self.meta["trained_on"] = int(size)
        self.index = index
        self._gpu = work if work is not index else None
        self.labels = np.zeros(0, dtype=np.int64)
        self.meta["next_label"] = 0
        for start in range(0, n, 65536):  # bounded temporary copies
            self._add_to_index(np.ascontiguousarray(vectors[start:start + 65536]))
        self._sync_cpu()

    def _to_gpu(self, index: Any) -> Any:
        options = getattr(self.faiss, "GpuMultipleClonerOptions", None)
        co = options() if options else None
        if co is not None:
            co.shard = self.plan == "shard"
            co.useFloat16 = True  # IVF-PQ lookup tables in fp16: the usual GPU setting, fits shared memory
        return self.faiss.index_cpu_to_all_gpus(index, co=co)

    def _sync_cpu(self) -> None:
        if self._cpu_stale and self._gpu is not None:
            self.index = self.faiss.index_gpu_to_cpu(self._gpu)
            self._cpu_stale = False

    # ---- search -------------------------------------------------------------------------------
    def _search_index(self) -> Any:
        if not self.on_gpu:
            return self.index
        if self._gpu is None:
            self._gpu = self._to_gpu(self.index) if not self.flat else self.faiss.index_cpu_to_all_gpus(self.index)
        return self._gpu

    def query_params(self) -> dict[str, int]:
        return query_params(self.cfg)

    def vectors(self) -> np.ndarray:
        if not self.flat:
            return self.stored()
        if len(self.ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.index.reconstruct_n(0, len(self.ids))

    def search(self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None) -> SearchResult:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(self.ids)
        if n == 0 or k < 1:
            return [[] for _ in range(len(queries))]
        if not self.flat:
            return self._search_kind(queries, k, allowed)
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

    def _search_kind(self, queries: np.ndarray, k: int, allowed: Collection[str] | None) -> SearchResult:
        self.ready()
        n = len(self.ids)
        q = self.query_params()
        selector = None
        if allowed is not None:
            rows = np.asarray(self.ids.rows_of(allowed), dtype=np.int64)
            if len(rows) == 0:
                return [[] for _ in range(len(queries))]
            n = len(rows)
            selector = self.faiss.IDSelectorBatch(np.ascontiguousarray(self.labels[rows]))
        elif self.tombstones():
            dead = np.setdiff1d(np.arange(self.index.ntotal, dtype=np.int64), self.labels, assume_unique=True)
            inner = self.faiss.IDSelectorBatch(dead)
            selector = self.faiss.IDSelectorNot(inner)
            selector._keep = inner  # the C++ object refers to it: keep it alive
        k = min(k, n)
        fetch = min(n, k * max(1, q["refine"]))
        if selector is not None:  # selectors run on the CPU index
            self._sync_cpu()
            params = self._params(q, selector)
            scores, labels = self.index.search(queries, fetch, params=params)
        else:
            index = self._search_index()
            self._set_params(index, q)
            scores, labels = index.search(queries, fetch)
        rows = np.searchsorted(self.labels, labels)
        rows = np.minimum(rows, len(self.labels) - 1)
        valid = (labels >= 0) & (self.labels[rows] == labels)
        if q["refine"] > 1 and valid.any():  # exact scores from the stored vectors (only these rows are read)
            wanted = np.unique(rows[valid])
            exact = np.asarray(self.stored()[wanted], dtype=np.float32)
            pos = np.minimum(np.searchsorted(wanted, rows), len(wanted) - 1)  # invalid slots: masked below
            for start in range(0, len(queries), 32):  # bounded (32, fetch, dim) temporaries
                part = slice(start, start + 32)
                scores[part] = np.einsum("qfd,qd->qf", exact[pos[part]], queries[part])
        out: SearchResult = []
        for i in range(len(queries)):
            r = rows[i][valid[i]]
            s = scores[i][valid[i]]
            order = np.lexsort((r, -s))[:k]  # score descending, then row: deterministic ties
            out.append([(self.ids[int(r[j])], float(s[j])) for j in order])
        return out

    def _set_params(self, index: Any, q: dict[str, int]) -> None:
        kind = self.meta["structure"]
        if index is not self.index:
            space = getattr(self.faiss, "GpuParameterSpace", None)
            if kind == "ivf" and space is not None:
                space().set_index_parameter(index, "nprobe", q["nprobe"])
            return
        space = self.faiss.ParameterSpace()
        if kind == "ivf":
            space.set_index_parameter(index, "nprobe", q["nprobe"])
        elif kind == "graph":
            space.set_index_parameter(index, "efSearch", q["ef_search"])

    def _params(self, q: dict[str, int], selector: Any) -> Any:
        f = self.faiss
        kind = self.meta["structure"]
        if kind == "ivf":
            inner = f.SearchParametersIVF()
            inner.nprobe = q["nprobe"]
        elif kind == "graph":
            inner = f.SearchParametersHNSW()
            inner.efSearch = q["ef_search"]
        else:
            inner = f.SearchParameters()
        inner.sel = selector
        if type(f.downcast_index(self.index)).__name__ != "IndexPreTransform":
            return inner
        outer = f.SearchParametersPreTransform()
        outer.index_params = inner
        outer._keep = (inner, selector)
        return outer

    # ---- files ----------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the manifest records about this index (nothing extra for Flat)."""
        if self.flat:
            return {}
        self.ready()
        keys = ("kind", "factory", "structure", "nlist", "trained_on", "rebuilds")
        out = {k if k != "factory" else "resolved_factory": self.meta[k] for k in keys if k in self.meta}
        return {**out, **self.query_params(), "tombstones": self.tombstones(), "gpu": self.plan}

    def save(self, folder: Path) -> None:
        if not self.flat:
            self.ready()
            self._sync_cpu()
            np.save(folder / "labels.npy", self.labels, allow_pickle=False)
            meta = {k: v for k, v in self.meta.items()}
            (folder / "index.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        self.faiss.write_index(self.index, str(folder / "faiss.index"))
        np.save(folder / "vectors.npy", self.vectors(), allow_pickle=False)
        self.ids.save(folder / "ids.json")

    @classmethod
    def load(cls, folder: Path, cfg: IndexConfig, dim: int) -> FaissIndex:
        faiss = import_faiss()
        index = faiss.read_index(str(folder / "faiss.index"))
        if index.d != dim:
            raise KbqaError(f"{folder}/faiss.index has dimension {index.d}, the manifest says {dim}")
        meta_path = folder / "index.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else None
        built = meta["requested"] if meta else "Flat"
        asked = cfg.factory.strip().lower()
        if asked not in (built.strip().lower(), str((meta or {}).get("factory", "Flat")).lower()):
            raise KbqaError(
                f"the index at {folder} was built as {built!r}"
                + (f" ({meta['factory']})" if meta else "")
                + f", but the config asks for index.factory = {cfg.factory!r}. Drop index.factory from the "
                "config to use the index as built, or rebuild it: `kbqa index build SOURCE --index DIR --overwrite`"
            )
        ids = IdTable.load(folder / "ids.json")
        if meta is None:
            return cls(index, dim, cfg, ids)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        stored = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r")
        _random_access(stored)
        return cls(index, dim, cfg, ids, meta=meta, labels=labels, stored=stored)


def _factory(faiss: Any, dim: int, factory: str, requested: str) -> Any:
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise KbqaError(f"index.factory {requested!r} is not a valid FAISS factory string: {exc}") from None


def _random_access(array: np.ndarray) -> None:
    """Refinement reads scattered rows: without this hint the kernel's read-ahead pulls in whole
    neighbourhoods of the memory-mapped file for every row (the page cache fills with unused vectors)."""
    raw = getattr(array, "_mmap", None)
    advice = getattr(mmap, "MADV_RANDOM", None)
    if raw is not None and advice is not None:
        try:
            raw.madvise(advice)
        except (OSError, ValueError):  # pragma: no cover - platforms without madvise
            pass
