"""``kbqa index compact``: merge the segments of the current version into one piece.

    report = compact_index("idx")

Under the writer lock, the live rows of every segment (deleted rows dropped) are streamed in
segment order into the same ``VersionWriter`` a build uses: documents, chunks, the chunk store, the
vectors (read from each segment's ``vectors.npy``, never re-embedded) and one BM25 index over all
live chunks, so its statistics are a fresh build's again. Trained kinds reuse the trained index of
their segments (no retraining). The result is committed as a new one-piece version (staging folder,
rename, atomic ``CURRENT`` switch): readers of older versions keep theirs, an interruption
(Ctrl-C, SIGKILL) leaves the current version as it was, and rollback goes back across it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import from_dict
from kbqa.errors import KbqaError
from kbqa.index.faiss_common import drop_pages
from kbqa.index.manifest import read_manifest
from kbqa.index.store import IndexFolder

BLOCK = 4096


@dataclass(frozen=True)
class CompactReport:
    """``version`` equals ``base_version`` when there was nothing to merge."""

    index_dir: str
    base_version: str
    version: str
    segments: int  # segments merged
    chunks: int  # live chunks written
    dropped: int  # deleted rows left out
    pruned: tuple[str, ...]
    seconds: float

    @property
    def committed(self) -> bool:
        return self.version != self.base_version

    def summary(self) -> str:
        if not self.committed:
            return f"{self.base_version} is one piece already: nothing to compact"
        return (f"{self.base_version} -> {self.version}: merged {self.segments} segments into one, "
                f"{self.chunks} chunks kept, {self.dropped} deleted rows dropped"
                + (f"; pruned {', '.join(self.pruned)}" if self.pruned else "") + f" [{self.seconds:.1f} s]")


def compact_index(index_dir: str | Path, *, keep: int = 3, progress: bool = False) -> CompactReport:
    """Merge the current version's segments into a one-piece version and commit it; prune to ``keep``."""
    from tqdm.auto import tqdm

    from kbqa.index import segment_write as sw
    from kbqa.index.build import VersionWriter
    from kbqa.index.segment_store import SegmentedStore
    from kbqa.index.segments import open_segments

    started = time.perf_counter()
    if keep < 1:
        raise KbqaError(f"keep must be at least 1 (the current version), got {keep}")
    folder = IndexFolder(index_dir)
    folder.current()
    with folder.lock():
        name = folder.current()
        vdir = folder.version_dir(name)
        manifest = read_manifest(vdir)
        if not manifest.get("segments"):
            return CompactReport(str(folder.root), name, name, 1, int(manifest["counts"]["chunks"]), 0, (),
                                 round(time.perf_counter() - started, 3))
        config = from_dict(manifest["config"], source=f"{vdir}/manifest.json")
        dim = int(manifest["embedder"]["dim"])
        segments = open_segments(folder.root, vdir, manifest, config.index, dim, lexical=False)
        store = SegmentedStore(segments, int(manifest["counts"]["documents"]))
        seed = sw.empty_twin(folder.root, manifest["segments"], config, dim)
        dropped = sum(len(s.deleted_ids) for s in segments)
        try:
            with folder.staging() as staging:
                writer = VersionWriter(folder, staging, config, dim, index=seed, defer=True)
                try:
                    batch: list[dict[str, Any]] = []
                    for row in store.iter_documents():
                        batch.append(row)
                        if len(batch) >= BLOCK:
                            writer.add_documents(batch)
                            batch = []
                    writer.add_documents(batch)
                    # a trained kind's vectors go straight into the new vectors.npy (memory-mapped) and
                    # its codes onto disk (kbqa.index.ivf_lists): memory does not grow with the index
                    out = _VectorsOut(staging, len(store), dim) if writer.deferred else None
                    with tqdm(total=len(store), desc="compacting", unit=" chunks", disable=not progress,
                              dynamic_ncols=True) as bar:
                        for s in segments:
                            _copy_segment(writer, s, bar, out)
                    if out is not None:
                        writer.adopt_vectors(out.finish())
                    carried = ("embedder", "chunker", "sources", "deidentification", "applied_files")
                    extra = {k: manifest[k] for k in carried if k in manifest}
                    counts = {k: v for k, v in manifest["counts"].items() if k not in ("documents", "chunks", "vectors", "retracted")}
                    version, _ = writer.commit(
                        {**extra, "counts": counts, "compacted": {"base": name, "segments": len(segments), "dropped": dropped}},
                        started,
                    )
                finally:
                    writer.close()
        finally:
            store.close()
        pruned = folder.prune(keep)
    return CompactReport(str(folder.root), name, version, len(segments), len(store), dropped, tuple(pruned),
                         round(time.perf_counter() - started, 3))


class _VectorsOut:
    """The compacted version's ``vectors.npy``, filled in row order as the chunks are copied."""

    def __init__(self, staging: Path, n: int, dim: int) -> None:
        self.array = np.lib.format.open_memmap(staging / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, dim))
        self.n = 0

    def add(self, vectors: np.ndarray) -> None:
        if self.n + len(vectors) > len(self.array):
            raise KbqaError(f"the segments hold more live chunks than their stores count ({len(self.array)}); "
                            "run `kbqa index check`")
        self.array[self.n:self.n + len(vectors)] = vectors
        self.n += len(vectors)
        drop_pages(self.array)  # written pages stay in the page cache (and reach the file), not in RSS

    def finish(self) -> np.ndarray:
        if self.n != len(self.array):
            raise KbqaError(f"the segments hold {self.n} live chunks, their stores count {len(self.array)}; "
                            "run `kbqa index check`")
        self.array.flush()
        return self.array


def _copy_segment(writer: Any, segment: Any, bar: Any, out: _VectorsOut | None = None) -> None:
    """The live chunks of one segment, with their stored vectors, into ``writer`` in blocks."""
    vectors = np.load(segment.path / "vectors.npy", mmap_mode="r", allow_pickle=False)
    chunks, rows = [], []

    def flush() -> None:
        block = np.asarray(vectors[rows])
        writer.add_chunks(chunks, block)
        if out is not None:
            out.add(block)
            drop_pages(vectors)
        bar.update(len(chunks))

    for row, chunk in enumerate(segment.store.iter_chunks()):
        if segment.deleted is not None and segment.deleted[row]:
            continue
        chunks.append(chunk)
        rows.append(row)
        if len(chunks) >= BLOCK:
            flush()
            chunks, rows = [], []
    if chunks:
        flush()
