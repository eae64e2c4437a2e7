"""Writing segmented versions: a new segment for an update, bitmaps for what it replaces, the version.

Used by kbqa.index.update (one segment per update) and kbqa.index.compact. The caller holds the
index folder's writer lock.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import Config
from kbqa.errors import KbqaError
from kbqa.files import write_atomic
from kbqa.index import segments as seg
from kbqa.index.store import IndexFolder, file_checksums
from kbqa.types import Chunk


def base_segments(folder: IndexFolder, name: str, manifest: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, np.ndarray | None]]:
    """The segment entries of version ``name`` and their deleted rows; a one-piece version becomes
    its first segment (hard links, kbqa.index.segments.adopt_version)."""
    entries = [dict(e) for e in manifest.get("segments") or []]
    if not entries:
        first = seg.adopt_version(folder.root, name, manifest)
        return [{"name": first, "chunks": int(manifest["counts"]["chunks"]), "deleted": 0}], {first: None}
    return entries, {e["name"]: seg.load_bitmap(folder.version_dir(name), e) for e in entries}


def mark_deleted(
    root: Path, entries: list[dict[str, Any]], masks: dict[str, np.ndarray | None], doc_ids: Iterable[str]
) -> int:
    """Mark the live chunks of ``doc_ids`` deleted in ``masks`` (in place); returns how many of those
    documents were flagged retracted. A document is live in the newest segment holding it."""
    from kbqa.index.chunkstore import ChunkStore

    pending = set(doc_ids)
    retracted = 0
    for entry in reversed(entries):
        if not pending:
            break
        store = ChunkStore.open(seg.segment_dir(root, entry["name"]))
        try:
            held = {d: row for d in sorted(pending) if (row := store.document(d)) is not None}
            retracted += sum(bool(row["meta"].get("retracted")) for row in held.values())
            mask = masks.get(entry["name"])
            for row, _ in store.rows_of_documents(sorted(held)):
                if mask is None:
                    mask = np.zeros(int(entry["chunks"]), dtype=bool)
                mask[row] = True
            masks[entry["name"]] = mask
        finally:
            store.close()
        pending -= set(held)
    return retracted


def empty_twin(root: Path, entries: list[dict[str, Any]], config: Config, dim: int) -> Any:
    """The index of a new segment: for trained kinds, empty but sharing the training (IVF centroids,
    PQ/SQ codebooks) of the smallest existing segment, so nothing is retrained; None (a fresh index)
    for Flat and the exact backend."""
    from kbqa.index.faiss_backend import is_flat

    if config.index.backend != "faiss" or is_flat(config.index.factory):
        return None
    from kbqa.index.faiss_approx import TrainedFaissIndex

    smallest = min(entries, key=lambda e: int(e["chunks"]))
    return TrainedFaissIndex.empty_from(seg.segment_dir(root, smallest["name"]), config.index, dim)


def write_segment(
    folder: IndexFolder,
    config: Config,
    dim: int,
    seed: Any,
    documents: Iterable[tuple[dict[str, Any], list[Chunk], np.ndarray]],
    origin: str,
    block: int = 4096,
    progress: Any = None,
) -> tuple[str, int]:
    """Write ``(document row, its chunks, their vectors)`` as a new segment; returns (name, chunks)."""
    from kbqa.index.build import VersionWriter

    staging = seg.staging_dir(folder.root)
    writer = VersionWriter(folder, staging, config, dim, index=seed, keep_checksums=True)
    try:
        rows: list[dict[str, Any]] = []
        chunks: list[Chunk] = []
        vectors: list[np.ndarray] = []

        def flush() -> None:
            writer.add_documents(rows)
            if chunks:
                writer.add_chunks(list(chunks), np.concatenate(vectors))
                if progress is not None:
                    progress.update(len(chunks))
            rows.clear()
            chunks.clear()
            vectors.clear()

        for row, cs, vs in documents:
            rows.append(row)
            chunks.extend(cs)
            vectors.append(np.asarray(vs, dtype=np.float32).reshape(len(cs), dim))
            if len(chunks) >= block:
                flush()
        flush()
        if writer.n_chunks == 0:
            raise KbqaError("a segment needs at least one chunk")
        writer.write_files()
        seg.write_meta(staging, writer.checksums, writer.n_chunks, origin)
        return seg.commit_segment(folder.root, staging), writer.n_chunks
    finally:
        writer.close()
        shutil.rmtree(staging, ignore_errors=True)


def commit_version(
    folder: IndexFolder,
    base: dict[str, Any],
    entries: list[dict[str, Any]],
    masks: dict[str, np.ndarray | None],
    documents: tuple[str, int],
    retracted: int,
    extra: dict[str, Any],
    started: float,
) -> str:
    """Commit a segmented version: bitmaps + manifest in a staging folder, renamed in, CURRENT switched.
    ``documents``: (digest, count) of the live documents (kbqa.index.manifest.DocumentsDigest); the
    manifest holds no per-document map, so what it writes does not grow with the corpus."""
    from kbqa.index.build import _kbqa_version
    from kbqa.index.manifest import FORMAT, FORMAT_VERSION, index_fingerprint

    listed = []
    for e in entries:
        mask = masks.get(e["name"])
        deleted = int(mask.sum()) if mask is not None else 0
        listed.append({"name": e["name"], "chunks": int(e["chunks"]), "deleted": deleted})
    live = sum(e["chunks"] - e["deleted"] for e in listed)
    with folder.staging() as staging:
        for e in listed:
            if e["deleted"]:
                seg.save_bitmap(staging / seg.bitmap_name(e["name"]), masks[e["name"]])
        counts = {k: v for k, v in base.get("counts", {}).items() if k not in ("documents", "chunks", "vectors", "retracted")}
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kbqa_version": _kbqa_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "embedder": base["embedder"],
            "chunker": base["chunker"],
            "sources": base.get("sources", []),
            **extra,
            "index": base["index"],
            "config": base["config"],
            "build_seconds": round(time.perf_counter() - started, 3),
            "counts": {"documents": int(documents[1]), "chunks": live, "vectors": live, "retracted": retracted, **counts},
            "segments": listed,
            "documents_digest": documents[0],
            "files": file_checksums(staging),
        }
        manifest["fingerprint"] = index_fingerprint(manifest)
        write_atomic(staging / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        return folder.commit(staging)
