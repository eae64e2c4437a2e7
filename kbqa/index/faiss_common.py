"""What the two FAISS index classes share: the lazy import, GPU detection, the factory call, and
the files every FAISS version folder holds (``faiss.index``, ``vectors.npy``, ``ids.json``)."""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import IndexConfig
from kbqa.errors import KbqaError, missing_extra
from kbqa.index.ids import IdTable
from kbqa.index.kinds import gpu_plan


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


def make_index(faiss: Any, dim: int, factory: str, requested: str) -> Any:
    """An inner-product FAISS index from a factory string; ``requested`` is what the config said."""
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise KbqaError(f"index.factory {requested!r} is not a valid FAISS factory string: {exc}") from None


def random_access(array: np.ndarray) -> None:
    """Refinement reads scattered rows: without this hint the kernel's read-ahead pulls in whole
    neighbourhoods of the memory-mapped file for every row (the page cache fills with unused vectors)."""
    raw = getattr(array, "_mmap", None)
    advice = getattr(mmap, "MADV_RANDOM", None)
    if raw is not None and advice is not None:
        try:
            raw.madvise(advice)
        except (OSError, ValueError):  # pragma: no cover - platforms without madvise
            pass


class FaissBase:
    """Rows line up with the IdTable; ``index`` is the CPU index (the one saved)."""

    def __init__(self, index: Any, dim: int, cfg: IndexConfig, ids: IdTable, structure: str | None) -> None:
        self.faiss = import_faiss()
        self.index = index
        self.dim = dim
        self.cfg = cfg
        self.ids = ids
        self._gpu: Any = None
        self.plan = gpu_plan(cfg, gpu_count(self.faiss), structure)
        self.on_gpu = self.plan != "cpu"

    def __len__(self) -> int:
        return len(self.ids)

    def vectors(self) -> np.ndarray:
        """The float32 vectors in row order."""
        raise NotImplementedError

    def _write(self, folder: Path) -> None:
        self._write_index(folder / "faiss.index")
        save_vectors(folder / "vectors.npy", self.vectors())
        self.ids.save(folder / "ids.json")

    def _write_index(self, path: Path) -> None:
        self.faiss.write_index(self.index, str(path))


def drop_pages(array: np.ndarray) -> None:
    """Unmap the pages a pass over a memory-mapped array brought in (``MADV_DONTNEED``): they stay in
    the page cache, but no longer count in this process's RSS. A build or compaction streams through
    vectors.npy-sized maps (1.5 GB per million chunks) once or twice; without this its RSS would grow
    by the whole file. No-op for arrays that are not memory maps, or where madvise is missing."""
    base: Any = array
    while base is not None and getattr(base, "_mmap", None) is None:
        base = getattr(base, "base", None)
    mapped = getattr(base, "_mmap", None) if base is not None else None
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if mapped is None or advice is None or not hasattr(mapped, "madvise"):
        return
    try:
        mapped.madvise(advice)
    except (OSError, ValueError):  # a closed map, or a platform that refuses: only memory is at stake
        pass


def gather_rows(vectors: np.ndarray, rows: np.ndarray, block: int = 65536) -> np.ndarray:
    """``vectors[rows]`` for sorted ``rows``, gathered one span of ``block`` rows at a time with the
    mapped pages dropped after each span: a training sample spread over a vectors.npy-sized map would
    otherwise fault in (with the kernel's fault-around) most of the file before the pages could go."""
    out = np.empty((len(rows), vectors.shape[1]), dtype=vectors.dtype)
    if not isinstance(vectors, np.memmap):
        np.take(vectors, rows, axis=0, out=out)
        return out
    done = 0
    for start in range(0, len(vectors), block):
        end = int(np.searchsorted(rows, start + block, side="left"))
        if end > done:
            out[done:end] = vectors[rows[done:end]]
            drop_pages(vectors)
            done = end
        if done == len(rows):
            break
    return out


def save_vectors(path: Path, vectors: np.ndarray, block: int = 65536) -> None:
    """``np.save`` the vectors, unless they are a memory map of that very file (a compaction writes
    them there directly): then only flush it. A memory-mapped source is copied a block at a time with
    its pages dropped as it goes (the same bytes as ``np.save``, without the file in RSS)."""
    if isinstance(vectors, np.memmap) and vectors.filename and Path(vectors.filename).resolve() == Path(path).resolve():
        vectors.flush()
        drop_pages(vectors)
        return
    if not isinstance(vectors, np.memmap):
        np.save(path, vectors, allow_pickle=False)
        return
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(vectors))
        for start in range(0, len(vectors), block):
            f.write(np.ascontiguousarray(vectors[start:start + block]).tobytes())
            drop_pages(vectors)


def selector_for(owner: Any, rows: np.ndarray, labels: np.ndarray | None = None) -> Any:
    """A FAISS ``IDSelectorBatch`` over ``rows`` (or ``labels[rows]``), kept for the last row array
    (``IdTable.rows_array`` returns the same array for the same filter): built once per filter."""
    last = getattr(owner, "_selector", None)
    if last is not None and last[0] is rows:
        return last[1]
    selector = import_faiss().IDSelectorBatch(np.ascontiguousarray(rows if labels is None else labels[rows]))
    owner._selector = (rows, selector)
    return selector
