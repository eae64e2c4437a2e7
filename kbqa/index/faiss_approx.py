"""FAISS kinds other than Flat (IVF, PQ, SQ, HNSW; kbqa/index/kinds.py): trained, approximate.

Besides ``faiss.index`` they keep ``labels.npy`` (the FAISS label of each row) and ``index.json``
(:class:`TrainedState`: kind, resolved factory string, training sample). Trainable kinds buffer the
vectors of a build and train once on a seeded sample of all of them, when the index is first
searched or saved. Candidates can be re-scored against the stored float32 vectors (``refine``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError
from kbqa.index.protocol import SearchResult, check_vectors
from kbqa.index.faiss_common import (
    FaissBase, drop_pages, gather_rows, gpu_count, import_faiss, make_index, selector_for,
)
from kbqa.index.ids import IdTable, PackedIds
from kbqa.index import two_level
from kbqa.index.ivf_lists import SPILL_FILE, ListSpill
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


@dataclass(frozen=True)
class TrainedState:
    """What ``index.json`` records about a trained kind."""

    kind: str  # a preset name of kinds.PRESETS, or "custom"
    requested: str  # index.factory as configured
    factory: str | None = None  # the resolved FAISS factory string (None until the size is known)
    structure: str | None = None  # "ivf" | "graph" | "compact" (None until the index exists)
    nlist: int | None = None  # IVF lists
    trained_on: int | None = None  # vectors in the training sample
    next_label: int | None = None  # the FAISS label the next IVF vector gets (set once trained)
    rebuilds: int | None = None  # times rebuilt to drop HNSW tombstones
    # IVF quantizer trained in two levels (kbqa/index/two_level.py, over index.train_memory_mb): coarse clusters
    two_level_coarse: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The fields that are set (unset ones are left out, as index.json always did)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> TrainedState:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown or not {"kind", "requested"} <= set(data):
            raise KbqaError(f"{where}: not a kbqa index state (unknown keys {unknown}); run `kbqa index check`")
        return cls(**data)


class TrainedFaissIndex(FaissBase):
    def __init__(
        self, index: Any, dim: int, cfg: IndexConfig, ids: IdTable, state: TrainedState, *,
        labels: np.ndarray | None = None, stored: np.ndarray | None = None,
    ) -> None:
        super().__init__(index, dim, cfg, ids, state.structure)  # index is None until trained
        self.state = state
        self.labels = labels if labels is not None else np.zeros(0, dtype=np.int64)
        self._stored: list[np.ndarray] = [] if stored is None else [stored]
        self._cpu_stale = False  # the GPU copy holds adds the CPU index has not seen yet

    @classmethod
    def create(cls, dim: int, cfg: IndexConfig) -> TrainedFaissIndex:
        faiss = import_faiss()
        name = preset_name(cfg.factory)
        state = TrainedState(kind=name or "custom", requested=cfg.factory)
        template = PRESETS[name].template if name else cfg.factory
        index = None
        if "{" not in template:  # no size-dependent parameter: the factory string is final now
            index = make_index(faiss, dim, template, cfg.factory)
            state = replace(state, factory=template, structure=structure(faiss, index))
            if not index.is_trained:
                index = None  # trained on a sample once all vectors are in
        return cls(index, dim, cfg, IdTable(), state)

    @classmethod
    def empty_from(cls, folder: Path, cfg: IndexConfig, dim: int) -> TrainedFaissIndex:
        """An empty index sharing the training of the one saved in ``folder`` (IVF centroids, PQ/SQ
        codebooks, OPQ rotation): a new segment's index (kbqa.index.segments)."""
        faiss = import_faiss()
        path = folder / "index.json"
        try:
            state = TrainedState.from_json(json.loads(path.read_text(encoding="utf-8")), path)
        except (OSError, ValueError) as exc:
            raise KbqaError(f"{path} cannot be read ({exc.__class__.__name__}); run `kbqa index check`") from None
        if state.structure == "graph":  # HNSW: nothing trained to share, a new graph per segment
            index = make_index(faiss, dim, state.factory, cfg.factory)
        else:
            try:  # read whole, then emptied (updates clone the smallest segment's, so mostly a small read)
                index = faiss.read_index(str(folder / "faiss.index"))
            except RuntimeError as exc:
                raise KbqaError(f"{folder / 'faiss.index'} cannot be read ({str(exc).splitlines()[0]}); "
                                "run `kbqa index check`") from None
            index.reset()
        return cls(index, dim, cfg, IdTable(), replace(state, next_label=0, rebuilds=None))

    # ---- adding and removing ---------------------------------------------------------------
    mapped_from: Path | None = None  # set by load: the index's inverted lists are a read-only memory map
    _spill_dir: Path | None = None  # adopt(spill_dir=...): where ready() may add IVF lists on disk
    _spill: ListSpill | None = None  # the lists added on disk, written by save; self.index is their empty template

    def _own(self) -> None:
        """Replace a memory-mapped index by a private, writable copy before it changes or moves (FAISS
        aborts the process on a write to read-only mapped lists, and would save a reference to them)."""
        self._unspill()
        if self.mapped_from is not None:
            self.index = self.faiss.read_index(str(self.mapped_from))
            self.mapped_from = None

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        self._own()
        vectors = check_vectors(ids, vectors, self.dim)
        self.ids.extend(ids)
        self._stored.append(vectors.copy())
        if self.index is None:
            return  # trained later on a sample of everything
        self._add_to_index(vectors)

    def adopt(self, ids: Sequence[str], vectors: np.ndarray, *, spill_dir: Path | None = None) -> None:
        """Take all the vectors of a build at once, as an array that may be memory-mapped (a streaming
        build keeps them on disk, kbqa.index.resume): training and adding then read them in bounded
        pieces instead of holding RAM copies. Only before anything was added or trained.

        ``spill_dir``: an IVF kind's codes are then added to a file there (kbqa.index.ivf_lists) and
        written by ``save`` without ever being all in memory; the index is read back memory-mapped.
        An index that is trained already but empty (a compaction's, sharing its segments' training) is
        filled at once the same way."""
        if len(self.ids) or (self.index is not None and self.index.ntotal):
            raise KbqaError("adopt() takes the vectors of a fresh or trained-but-empty index only")
        if vectors.shape != (len(ids), self.dim):
            raise KbqaError(f"{len(ids)} ids for vectors of shape {vectors.shape}")
        if isinstance(ids, PackedIds):  # a build's ids, packed (~45 B each instead of ~150)
            self.ids = IdTable.packed(ids)
        else:
            self.ids.extend(ids)
        self._stored = [vectors]
        self._spill_dir = spill_dir
        if self.index is not None:
            self._own()
            self._add_stored()

    def _write_index(self, path: Path) -> None:
        if self._spill is None:
            return super()._write_index(path)
        # the lists go from their spill file into faiss.index, which is then read back memory-mapped
        self._spill.write_index(path)
        self._spill.close()
        self._spill, self._spill_dir = None, None
        self.index = self.faiss.read_index(str(path), self.faiss.IO_FLAG_MMAP)
        self.mapped_from = path

    def _unspill(self) -> None:
        """Lists added on disk and not saved yet: add the vectors in memory instead (only if the index
        is used before it is saved, which a build does not do)."""
        if self._spill is None:
            return
        self._spill.close()
        self._spill, self._spill_dir = None, None
        self.labels = np.zeros(0, dtype=np.int64)
        self.state = replace(self.state, next_label=0)
        vectors = self.stored()
        for start in range(0, len(vectors), 65536):
            self._add_to_index(np.ascontiguousarray(vectors[start:start + 65536]))

    def _add_to_index(self, vectors: np.ndarray) -> None:
        ivf = self.state.structure == "ivf"
        target = self._gpu if self._gpu is not None and ivf else self.index
        if ivf:
            start = self.state.next_label or 0
            new = np.arange(start, start + len(vectors), dtype=np.int64)
            target.add_with_ids(vectors, new)
            self.state = replace(self.state, next_label=start + len(vectors))
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
        self._own()
        keep = np.ones(len(self.ids), dtype=bool)
        keep[rows] = False
        stored = self.stored()
        if self.index is not None:
            self._sync_cpu()
            gone = self.labels[rows]
            if self.state.structure != "graph":  # HNSW cannot delete: tombstones, masked at search
                removed = self.index.remove_ids(self.faiss.IDSelectorBatch(gone))
                if removed != len(rows):
                    raise KbqaError(f"FAISS removed {removed} of {len(rows)} vectors from {self.state.factory!r}")
            self.labels = self.labels[keep]
            if self.state.structure == "compact":
                self.labels = np.arange(len(self.labels), dtype=np.int64)  # FAISS renumbered the rows
        self._stored = [np.asarray(stored[keep])]
        self.ids.remove_rows(rows)
        self._gpu = None
        graph = self.state.structure == "graph" and self.index is not None
        if graph and self.tombstones() > self.cfg.rebuild_fraction * max(self.index.ntotal, 1):
            self.rebuild()
        return len(rows)

    def tombstones(self) -> int:
        """Vectors still in the FAISS index that no longer belong to it (HNSW after removals)."""
        return 0 if self.index is None or self._spill is not None else int(self.index.ntotal - len(self.labels))

    def rebuild(self) -> None:
        """A fresh FAISS index of the current vectors (drops tombstones; retrains trainable kinds)."""
        self.index = None
        self._gpu = None
        self.labels = np.zeros(0, dtype=np.int64)
        self.state = replace(self.state, next_label=0, rebuilds=(self.state.rebuilds or 0) + 1)
        self.ready()

    # ---- training ------------------------------------------------------------------------------
    def stored(self) -> np.ndarray:
        """The float32 vectors in row order (memory-mapped after ``load``)."""
        if len(self._stored) != 1:
            self._stored = [np.concatenate(self._stored) if self._stored else np.zeros((0, self.dim), np.float32)]
        return self._stored[0]

    vectors = stored

    def ready(self) -> None:
        """Create and train the FAISS index if that is still pending, then add every buffered vector."""
        if self.index is not None:
            return
        faiss = self.faiss
        n = len(self.ids)
        factory = resolve_factory(self.cfg, self.dim, n)
        index = make_index(faiss, self.dim, factory, self.cfg.factory)
        self.state = replace(self.state, factory=factory, structure=structure(faiss, index))
        self.plan = gpu_plan(self.cfg, gpu_count(faiss), self.state.structure)
        self.on_gpu = self.plan != "cpu"
        ivf = extract_ivf(faiss, index)
        if ivf is not None:
            self.state = replace(self.state, nlist=int(ivf.nlist))
        vectors = self.stored()
        work = self._to_gpu(index) if self.on_gpu and self.state.structure != "graph" else index
        if not index.is_trained:
            size = train_size(self.cfg, faiss, index, n)
            rng = np.random.default_rng(TRAIN_SEED)
            sample = np.sort(rng.choice(n, size=size, replace=False)) if size < n else np.arange(n)
            if work is index and two_level.applies(faiss, index, size, self.dim, self.cfg.train_memory_mb):
                done = two_level.train(faiss, index, vectors, sample, seed=TRAIN_SEED, scratch=self._spill_dir)
                self.state = replace(self.state, two_level_coarse=int(done["coarse"]))
            else:
                train = gather_rows(vectors, sample)  # span by span, the mapped pages dropped after each
                work.train(train)
                del train
            self.state = replace(self.state, trained_on=int(size))
        self.index = index
        self._gpu = work if work is not index else None
        self._add_stored()

    def _add_stored(self) -> None:
        """Add every stored vector to the trained, empty index: in bounded blocks, and for an adopted
        IVF index on the CPU, with its lists on disk (``adopt(spill_dir=...)``)."""
        vectors = self.stored()
        n = len(vectors)
        self.labels = np.zeros(0, dtype=np.int64)
        self.state = replace(self.state, next_label=0)
        if self._spill_dir is not None and self._gpu is None and ListSpill.supports(self.faiss, self.index):
            self._spill = ListSpill(self.faiss, self.index, self._spill_dir / SPILL_FILE)
            self._spill.add(vectors, 0)  # its codes on disk, not in the index's lists
            self.labels = np.arange(n, dtype=np.int64)
            self.state = replace(self.state, next_label=n)
            return
        for start in range(0, n, 65536):  # bounded temporary copies
            self._add_to_index(np.ascontiguousarray(vectors[start:start + 65536]))
            drop_pages(vectors)
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
            self._own()  # the GPU gets a copy of the lists: no need to keep them mapped
            self._gpu = self._to_gpu(self.index)
        return self._gpu

    def query_params(self) -> dict[str, int]:
        return query_params(self.cfg)

    def search(self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None) -> SearchResult:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(self.ids)
        if n == 0 or k < 1:
            return [[] for _ in range(len(queries))]
        self.ready()
        self._unspill()
        q = self.query_params()
        selector = None
        if allowed is not None:
            rows = self.ids.rows_array(allowed)
            if len(rows) == 0:
                return [[] for _ in range(len(queries))]
            n = len(rows)
            selector = selector_for(self, rows, self.labels)
        elif self.tombstones():
            dead = np.setdiff1d(np.arange(self.index.ntotal, dtype=np.int64), self.labels, assume_unique=True)
            inner = self.faiss.IDSelectorBatch(dead)
            selector = self.faiss.IDSelectorNot(inner)
            selector._keep = inner  # the C++ object refers to it: keep it alive
        k = min(k, n)
        fetch = min(n, k * max(1, q["refine"]))
        if selector is not None:  # selectors run on the CPU index
            self._sync_cpu()
            scores, labels = self.index.search(queries, fetch, params=self._params(q, selector))
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
        kind = self.state.structure
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
        kind = self.state.structure
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
        """What the manifest records about this index: kind, resolved factory, query settings, GPU plan."""
        self.ready()
        recorded = self.state.to_json()
        keys = ("kind", "factory", "structure", "nlist", "trained_on", "rebuilds")
        out = {k if k != "factory" else "resolved_factory": recorded[k] for k in keys if k in recorded}
        return {**out, **self.query_params(), "tombstones": self.tombstones(), "gpu": self.plan}

    def save(self, folder: Path) -> None:
        self.ready()
        if self._spill is None:  # (spilled lists are written by _write_index, unspilled)
            self._own()
            self._sync_cpu()
        np.save(folder / "labels.npy", self.labels, allow_pickle=False)
        (folder / "index.json").write_text(json.dumps(self.state.to_json(), indent=1), encoding="utf-8")
        self._write(folder)
