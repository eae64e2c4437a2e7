"""Segments: a version as a list of immutable pieces plus deletion bitmaps (docs/scaling.md §10).

    DIR/segments/s000001/   one segment: documents.jsonl, chunks.jsonl, store.sqlite, the vector
                            index files (vectors.npy, ids.json, faiss.index, ...), lexical/, and
                            segment.json (its documents' checksums, counts, every file's sha256)
    DIR/v000004/            a segmented version: manifest.json (``"segments"``: name, rows,
                            deleted rows, bitmap file of each) and deleted-sNNNNNN.npy bitmaps
                            (``np.packbits`` over the segment's rows, 1 = deleted)

A build writes a one-piece version (the layout every kbqa version had). The first update of it
turns that version into segment s1 by hard links (no bytes copied; the version stays as it was),
writes the new and changed documents as one new segment, and commits a version listing both with
bitmaps marking the replaced and removed chunks: what an update writes is proportional to the
update. ``kbqa index compact`` merges the segments of the current version into a one-piece version.

Segments are shared by name between versions, so rollback stays a pointer switch. A segment is
renamed into ``segments/`` before the version that first lists it commits; one that no version
lists (a writer killed between the two, or every version listing it pruned) is removed by the next
writer, under the lock (:func:`collect_garbage`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa import files
from kbqa.errors import KbqaError
from kbqa.index.protocol import SearchResult

SEGMENTS = "segments"
SEGMENT_META = "segment.json"
SEGMENT_FORMAT = "kbqa-segment/1"
STAGING_PREFIX = ".staging-"


def is_segmented(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("segments"))


def segment_dir(root: Path, name: str) -> Path:
    return root / SEGMENTS / name


def segment_names(root: Path) -> list[str]:
    d = root / SEGMENTS
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if p.is_dir() and p.name.startswith("s") and p.name[1:].isdigit())


def next_segment(root: Path) -> str:
    names = segment_names(root)
    return f"s{int(names[-1][1:]) + 1 if names else 1:06d}"


def bitmap_name(segment: str) -> str:
    return f"deleted-{segment}.npy"


# ---- writing ------------------------------------------------------------------------------------
def staging_dir(root: Path) -> Path:
    """A fresh folder for a segment being written (removed by the next writer if never committed)."""
    (root / SEGMENTS).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root / SEGMENTS))


def write_meta(
    staging: Path, documents: dict[str, str] | None, chunks: int, origin: str, known: dict[str, str] | None = None
) -> dict[str, Any]:
    """segment.json: what ``kbqa index check`` verifies the segment against. ``documents``: the
    checksum of each document (None for an adopted version: its documents.jsonl, whose sha256 is
    recorded, holds them, and the update writes nothing corpus-sized). ``known``: checksums already
    recorded for hard-linked files (not read again)."""
    sums = files.file_checksums(staging, skip=SEGMENT_META, known=known)
    meta = {
        "format": SEGMENT_FORMAT,
        "origin": origin,
        "counts": {"documents": None if documents is None else len(documents), "chunks": chunks},
        "files": sums,
    }
    if documents is not None:
        meta["documents"] = documents
    files.write_atomic(staging / SEGMENT_META, json.dumps(meta, ensure_ascii=False))
    return meta


def commit_segment(root: Path, staging: Path) -> str:
    """Make ``staging`` durable and rename it to the next segment name; returns the name."""
    files.fsync_tree(staging)
    name = next_segment(root)
    os.rename(staging, segment_dir(root, name))
    files.fsync_dir(root / SEGMENTS)
    return name


def adopt_version(root: Path, version: str, manifest: dict[str, Any]) -> str:
    """A one-piece version as a new segment: its files hard-linked (copied where links fail), plus
    segment.json, and (once, for versions that predate them) store.sqlite and lexical/doclen.npy,
    written from the version's own files. The version is untouched."""
    vdir = root / version
    staging = staging_dir(root)
    try:
        for p in sorted(vdir.rglob("*")):
            rel = p.relative_to(vdir)
            if rel.as_posix() == "manifest.json":
                continue
            target = staging / rel
            if p.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(p, target)
            except OSError:
                shutil.copy2(p, target)
        if not (staging / "store.sqlite").is_file():  # a version written before the chunk store existed
            from kbqa.index.chunkstore import build_store
            from kbqa.jsonlines import read_jsonl

            build_store(staging / "store.sqlite", read_jsonl(vdir / "documents.jsonl"), read_jsonl(vdir / "chunks.jsonl"))
        lex = staging / "lexical"
        if (lex / "lexical.json").is_file() and not (lex / "doclen.npy").is_file():
            _write_doc_lengths(staging, manifest)
        write_meta(staging, None, int(manifest["counts"]["chunks"]), f"version {version}", known=manifest.get("files"))
        return commit_segment(root, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_doc_lengths(seg: Path, manifest: dict[str, Any]) -> None:
    """doclen.npy for a lexical index written before kbqa kept it (one pass over the texts, once)."""
    from kbqa.chunk import embed_text
    from kbqa.config import from_dict
    from kbqa.index.chunkstore import ChunkStore
    from kbqa.index.segment_lexical import doc_lengths

    config = from_dict(manifest["config"], source=f"{seg}/manifest.json")
    store = ChunkStore.open(seg, required=(seg / "store.sqlite").is_file())
    parts = []
    batch: list[str] = []
    for c in store.iter_chunks():
        batch.append(embed_text(c, config.chunk))
        if len(batch) >= 4096:
            parts.append(doc_lengths(batch))
            batch = []
    parts.append(doc_lengths(batch))
    store.close()
    np.save(seg / "lexical" / "doclen.npy", np.concatenate(parts).astype(np.int32), allow_pickle=False)


def save_bitmap(path: Path, deleted: np.ndarray) -> None:
    np.save(path, np.packbits(deleted.astype(bool)), allow_pickle=False)


def load_bitmap(vdir: Path, entry: dict[str, Any]) -> np.ndarray | None:
    """The deleted rows of one segment of version ``vdir`` (bool per row), None when none are."""
    if not entry.get("deleted"):
        return None
    path = vdir / bitmap_name(entry["name"])
    try:
        packed = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise KbqaError(f"{path} cannot be read ({exc.__class__.__name__}); run `kbqa index check`") from None
    rows = int(entry["chunks"])
    if packed.dtype != np.uint8 or packed.shape != ((rows + 7) // 8,):
        raise KbqaError(f"{path}: a bitmap of {packed.shape} bytes for {rows} rows; run `kbqa index check`")
    mask = np.unpackbits(packed, count=rows).astype(bool)
    if int(mask.sum()) != int(entry["deleted"]):
        raise KbqaError(f"{path} marks {int(mask.sum())} rows, the manifest {entry['deleted']}; run `kbqa index check`")
    return mask


# ---- garbage --------------------------------------------------------------------------------------
def referenced(root: Path) -> set[str] | None:
    """Segments listed by any version folder; None when a manifest cannot be read (then keep everything)."""
    names: set[str] = set()
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith("v") and p.name[1:].isdigit():
            try:
                names.update(e["name"] for e in listed_segments(p / "manifest.json"))
            except (OSError, ValueError, KeyError, TypeError):
                return None
    return names


def listed_segments(path: Path) -> list[dict[str, Any]]:
    """The ``segments`` entry of a manifest, found without parsing its (corpus-sized) document map:
    every writer lock reads it from each version (commit_version writes it as a top-level key)."""
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("{"):
        raise ValueError(f"{path}: not a JSON object")
    at = text.find('\n "segments": [')
    if at < 0:
        return []
    value, _ = json.JSONDecoder().raw_decode(text, text.index("[", at))
    return value


def collect_garbage(root: Path) -> list[str]:
    """Remove segment staging folders and segments no version lists (the caller holds the lock)."""
    d = root / SEGMENTS
    if not d.is_dir():
        return []
    for p in d.iterdir():
        if p.name.startswith(STAGING_PREFIX):
            shutil.rmtree(p, ignore_errors=True)
    keep = referenced(root)
    if keep is None:
        return []
    gone = []
    for name in segment_names(root):
        if name not in keep:
            trash = d / f".staging-gone-{name}-{os.getpid()}"  # renamed first: no half-deleted segment
            os.rename(d / name, trash)
            shutil.rmtree(trash, ignore_errors=True)
            gone.append(name)
    if gone:
        files.fsync_dir(d)
    return gone


# ---- reading --------------------------------------------------------------------------------------
class Segment:
    """One opened segment of a version: its vector index, store, lexical side (its parts as
    ``[(folder, LexicalIndex)]``, kbqa.lexical.lexical_parts) and deleted rows."""

    def __init__(self, name: str, path: Path, index: Any, store: Any, lexical: Any, deleted: np.ndarray | None) -> None:
        self.name = name
        self.path = path
        self.index = index
        self.store = store
        self.lexical = lexical
        self.deleted = deleted
        self.deleted_ids: frozenset[str] = frozenset()
        # a document is replaced or removed whole (every chunk row of it is marked: segment_write.mark_deleted,
        # and every stored document has a chunk), so its copy here is dead iff one of its rows is marked
        self.deleted_docs: frozenset[str] = frozenset()
        if deleted is not None:
            rows = np.flatnonzero(deleted).tolist()
            self.deleted_ids = frozenset(store.ids_at(rows))
            self.deleted_docs = frozenset(store.doc_ids_at(rows))
        self.rows = len(store)
        self.live = self.rows - len(self.deleted_ids)


def open_segments(root: Path, vdir: Path, manifest: dict[str, Any], cfg: Any, dim: int, *, lexical: bool) -> list[Segment]:
    """Open every segment a segmented version lists; a missing or unreadable one is named in the error."""
    from kbqa.index.chunkstore import ChunkStore
    from kbqa.index.factory import load_index
    from kbqa.lexical import lexical_parts

    out = []
    for entry in manifest["segments"]:
        path = segment_dir(root, entry["name"])
        if not (path / SEGMENT_META).is_file():
            raise KbqaError(f"segment {path} (listed by {vdir / 'manifest.json'}) is missing; run `kbqa index check`, "
                            "roll back to another version (`kbqa index rollback`) or rebuild the index")
        try:
            index = load_index(path, cfg, dim)
            store = ChunkStore.open(path)
            lex = lexical_parts(path / "lexical") if lexical and (path / "lexical").is_dir() else None
        except KbqaError as exc:
            raise KbqaError(f"segment {path}: {exc}") from None
        except (OSError, ValueError, RuntimeError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise KbqaError(f"segment {path} is damaged ({first}); run `kbqa index check`") from None
        if len(store) != len(index) or len(store) != int(entry["chunks"]):
            raise KbqaError(f"segment {path}: {len(store)} chunks, {len(index)} vectors, the manifest lists "
                            f"{entry['chunks']}; run `kbqa index check`")
        out.append(Segment(entry["name"], path, index, store, lex, load_bitmap(vdir, entry)))
    return out


class SegmentedIndex:
    """Dense search over segments: each searched with its deleted rows masked, top-k merged by score."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.dim = segments[0].index.dim

    def __len__(self) -> int:
        return sum(s.live for s in self.segments)

    def search(self, queries: np.ndarray, k: int, allowed: Collection[str] | None = None) -> SearchResult:
        queries = np.atleast_2d(queries)
        merged: SearchResult = [[] for _ in range(len(queries))]
        for seg in self.segments:
            if seg.live == 0:
                continue
            # over-fetch by the deleted count: the top k live rows are always among them
            found = seg.index.search(queries, k + len(seg.deleted_ids), allowed)
            for out, row in zip(merged, found, strict=True):
                out.extend(hit for hit in row if hit[0] not in seg.deleted_ids)
        return [sorted(row, key=lambda h: -h[1])[:k] for row in merged]

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:  # pragma: no cover - protocol only
        raise KbqaError("a segmented version is immutable; use `kbqa index update`")

    def remove(self, ids: Collection[str]) -> int:  # pragma: no cover - protocol only
        raise KbqaError("a segmented version is immutable; use `kbqa index update`")

    def save(self, folder: Path) -> None:  # pragma: no cover - protocol only
        raise KbqaError("a segmented version is saved segment by segment; use `kbqa index compact`")


# ---- a segmented version's records, for readers outside serving (tuning, benchmarks) --------------
def live_vectors(root: Path, vdir: Path, manifest: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """Chunk ids and vectors of the live rows, segment by segment (a copy, not memory-mapped)."""
    from kbqa.index.ids import IdTable

    ids: list[str] = []
    parts = []
    for entry in manifest["segments"]:
        path = segment_dir(root, entry["name"])
        seg_ids = list(IdTable.load(path / "ids.json"))
        matrix = np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False)
        mask = load_bitmap(vdir, entry)
        keep = np.ones(len(seg_ids), dtype=bool) if mask is None else ~mask
        ids += [c for c, k in zip(seg_ids, keep, strict=True) if k]
        parts.append(np.asarray(matrix[keep]))
    return ids, np.concatenate(parts)


def live_chunk_rows(root: Path, vdir: Path, manifest: dict[str, Any]) -> Any:
    """chunks.jsonl rows of the live chunks, segment by segment."""
    from kbqa.jsonlines import read_jsonl

    for entry in manifest["segments"]:
        mask = load_bitmap(vdir, entry)
        for row, chunk in enumerate(read_jsonl(segment_dir(root, entry["name"]) / "chunks.jsonl")):
            if mask is None or not mask[row]:
                yield chunk


def live_document_rows(root: Path, vdir: Path, manifest: dict[str, Any]) -> Any:
    """documents.jsonl rows of the live documents, segment by segment (a live document has one live copy)."""
    from kbqa.index.chunkstore import ChunkStore
    from kbqa.jsonlines import read_jsonl

    for entry in manifest["segments"]:
        path = segment_dir(root, entry["name"])
        mask = load_bitmap(vdir, entry)
        dead: set[str] = set()
        if mask is not None:
            store = ChunkStore.open(path)
            try:
                dead = store.doc_ids_at(np.flatnonzero(mask).tolist())
            finally:
                store.close()
        for row in read_jsonl(path / "documents.jsonl"):
            if row["doc_id"] not in dead:
                yield row


def open_stores(root: Path, vdir: Path, manifest: dict[str, Any]) -> list[Segment]:
    """The segments of a version with their chunk stores and deleted rows only (no vector index, no
    BM25): what an update or a check reads documents from."""
    from kbqa.index.chunkstore import ChunkStore

    out = []
    for entry in manifest["segments"]:
        path = segment_dir(root, entry["name"])
        try:
            store = ChunkStore.open(path)
        except KbqaError as exc:
            raise KbqaError(f"segment {path}: {exc}") from None
        out.append(Segment(entry["name"], path, None, store, None, load_bitmap(vdir, entry)))
    return out
