"""Write index versions: documents -> chunks -> vectors -> a committed version folder.

``VersionWriter`` writes one version (documents.jsonl, chunks.jsonl, the vector index, the
manifest) into a staging folder and commits it atomically; ``build_version`` drives it for a
full build, and updates drive it with reused vectors. ``build_index`` is the whole build of an
index folder from sources, with its overwrite rules.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kbqa.chunk import Chunker, embed_text
from kbqa.config import Config
from kbqa.embed import Encoder
from kbqa.errors import KbqaError
from kbqa.index.chunkstore import STORE, DuplicateDocument, StoreWriter
from kbqa.index.factory import create_index
from kbqa.index.protocol import check_vectors
from kbqa.index.manifest import FORMAT, FORMAT_VERSION, DocumentsDigest, document_checksum, index_fingerprint
from kbqa.index.store import IndexFolder, file_checksums, write_atomic
from kbqa.jsonlines import read_jsonl
from kbqa.types import Chunk, Document

BLOCK = 1024  # chunks embedded per call: big enough to batch well, small enough to show progress
T = TypeVar("T")


def doc_row(doc: Document, checksum: str, n_chunks: int) -> dict[str, Any]:
    return {"doc_id": doc.doc_id, "title": doc.title, "meta": doc.meta, "checksum": checksum, "n_chunks": n_chunks}


def chunk_row(chunk: Chunk) -> dict[str, Any]:
    return {"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end, "text": chunk.text}


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def background(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run ``items`` in a thread, ``depth`` ahead: chunking overlaps with embedding (torch frees the GIL)."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def run() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer, with its traceback
            q.put(exc)

    thread = threading.Thread(target=run, name="kbqa-chunker", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class VersionWriter:
    """Accumulates one version in a staging folder; ``commit`` makes it current."""

    def __init__(
        self, folder: IndexFolder, staging: Path, config: Config, dim: int, index: Any = None,
        *, resume: dict[str, Any] | None = None, defer: bool = False, keep_checksums: bool = False,
    ) -> None:
        self.folder = folder
        self.staging = staging
        self.config = config
        # ``index``: a trained index that already holds the leading chunks (an in-place update);
        # chunks it holds are written to the version files but not added again
        self.index = create_index(config.index, dim) if index is None else index
        self._seeded = index is not None
        # the documents' digest and count (the manifest's); the id -> checksum map itself only where it
        # is written out (a segment's segment.json): a build's memory does not grow by a map of the corpus
        self.digest = DocumentsDigest()
        self.n_documents = 0
        self.checksums: dict[str, str] | None = {} if keep_checksums else None
        self.n_chunks = 0
        self.n_retracted = 0
        # ``defer``: an untrained index gets its vectors from the caller at the end (``adopt``, from the
        # build's on-disk spill, kbqa.index.resume) instead of buffering RAM copies of all of them
        # (an index trained already but empty, a compaction's, adopts its vectors the same way)
        trained = getattr(self.index, "index", None)
        self.deferred = (defer and hasattr(self.index, "adopt") and not len(self.index.ids)
                         and (trained is None or not trained.ntotal))
        if resume is None:
            self._docs = open(staging / "documents.jsonl", "w", encoding="utf-8")
            self._chunks = open(staging / "chunks.jsonl", "w", encoding="utf-8")
            self.store = StoreWriter(staging / STORE)
        else:  # an interrupted build's files (kbqa.index.resume), cut back to its last checkpoint
            self._docs = _reopen(staging / "documents.jsonl", resume["documents_bytes"])
            self._chunks = _reopen(staging / "chunks.jsonl", resume["chunks_bytes"])
            for row in read_jsonl(staging / "documents.jsonl"):
                self._count(row)
            self.n_chunks = resume["chunks"]
            self.store = StoreWriter(staging / STORE, resume=(self.n_documents, self.n_chunks))

    def checkpoint(self) -> dict[str, int]:
        """Make what was added so far durable; returns what ``resume`` needs to continue from here."""
        for f in (self._docs, self._chunks):
            f.flush()
            os.fsync(f.fileno())
        self.store.checkpoint()
        return {"chunks": self.n_chunks, "documents_bytes": self._docs.tell(), "chunks_bytes": self._chunks.tell()}

    def add_documents(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        self.store.add_documents(rows)
        for row in rows:
            self._count(row)
        self._docs.write("".join(map(_dumps, rows)))  # one write per block (see chunkstore.insert_rows)

    def _count(self, row: dict[str, Any]) -> None:
        self.digest.add(row["doc_id"], row["checksum"])
        self.n_documents += 1
        self.n_retracted += bool(row["meta"].get("retracted"))
        if self.checksums is not None:
            self.checksums[row["doc_id"]] = row["checksum"]

    def add_chunks(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if self.deferred:
            check_vectors([c.chunk_id for c in chunks], vectors, self.index.dim)
        elif self._seeded:
            new = [i for i, c in enumerate(chunks) if c.chunk_id not in self.index.ids]
            if new:
                self.index.add([chunks[i].chunk_id for i in new], vectors[new])
        else:
            self.index.add([c.chunk_id for c in chunks], vectors)
        self._chunks.write("".join(_dumps(chunk_row(c)) for c in chunks))
        self.store.add_chunks(chunks)
        self.n_chunks += len(chunks)

    def adopt_vectors(self, vectors: np.ndarray) -> None:
        """A deferred index takes every vector at once (rows in the order the chunks were added, e.g. a
        memory map), its ids packed from chunks.jsonl; IVF lists are added through a spill file here."""
        from kbqa.index.ids import PackedIds
        from kbqa.index.ivf_lists import SPILL_FILE

        self.checkpoint()  # chunks.jsonl on disk: the ids are read back from it
        (self.staging / SPILL_FILE).unlink(missing_ok=True)  # a killed run's half-written lists: never a version file
        ids = PackedIds.from_ids(row["chunk_id"] for row in read_jsonl(self.staging / "chunks.jsonl"))
        self.index.adopt(ids, vectors, spill_dir=self.staging)

    def write_files(self) -> None:
        """Seal the staging folder's data files: store, vector index, BM25 side (no manifest)."""
        self._docs.close()
        self._chunks.close()
        self.store.finish()
        self.index.save(self.staging)
        # what the manifest needs of the index, then the index itself is let go: its ids, labels and
        # codes are not held while the BM25 side is written (the build's two memory peaks do not add up)
        self.index_facts = {
            "describe": self.index.describe() if hasattr(self.index, "describe") else {},
            "vectors": len(self.index),
        }
        self.index = None
        if self.config.index.lexical and self.n_chunks:
            from kbqa.index.chunkstore import ChunkStore
            from kbqa.lexical import write_lexical

            # the texts stream back from the store into BM25 parts of index.lexical_part_rows rows:
            # a build never holds all chunk texts, and bm25s (in memory) one part at a time
            store = ChunkStore.open(self.staging)
            try:
                rows = ((c.chunk_id, embed_text(c, self.config.chunk)) for c in store.iter_chunks())
                write_lexical(self.staging / "lexical", rows, part_rows=self.config.index.lexical_part_rows)
            finally:
                store.close()

    def commit(self, manifest_extra: dict[str, Any], started: float) -> tuple[str, dict[str, Any]]:
        self.write_files()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kbqa_version": _kbqa_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **manifest_extra,
            "index": {
                "backend": self.config.index.backend,
                "factory": self.config.index.factory,
                **self.index_facts["describe"],  # kind, nlist, nprobe...
            },
            "config": self.config.to_dict(),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        manifest["counts"] = {
            "documents": self.n_documents,
            "chunks": self.n_chunks,
            "vectors": self.index_facts["vectors"],
            "retracted": self.n_retracted,
            **manifest.get("counts", {}),
        }
        manifest["documents_digest"] = self.digest.hex()  # not the map: see kbqa.index.manifest.DocumentsDigest
        manifest["files"] = file_checksums(self.staging)  # what `kbqa index check` verifies
        manifest["fingerprint"] = index_fingerprint(manifest)
        write_atomic(self.staging / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        name = self.folder.commit(self.staging)
        return name, {**manifest, "version": name}

    def close(self) -> None:
        self._docs.close()
        self._chunks.close()
        self.store.close()


def _reopen(path: Path, size: int) -> Any:
    with open(path, "r+b") as f:
        f.truncate(size)
    return open(path, "a", encoding="utf-8")


def iter_blocks(
    documents: Iterable[tuple[str, Document]], chunker: Chunker, block: int = BLOCK,
) -> Iterator[tuple[list[dict[str, Any]], list[Chunk]]]:
    """(document rows, chunks) in blocks of about ``block`` chunks. Repeated ids are caught where the
    rows are stored (the store's primary key, ``DuplicateDocument``), not by a map of every id."""
    rows: list[dict[str, Any]] = []
    chunks: list[Chunk] = []
    for _source, doc in documents:
        doc_chunks = chunker.split(doc)
        rows.append(doc_row(doc, document_checksum(doc), len(doc_chunks)))
        chunks.extend(doc_chunks)
        if len(chunks) >= block:
            yield rows, chunks
            rows, chunks = [], []
    if rows:
        yield rows, chunks


class SourceRuns:
    """Which source each document position came from, as runs (first position, source): one entry per
    source, whatever the corpus size, to name both sources of a repeated id."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.sources: list[str] = []

    def track(self, documents: Iterable[tuple[str, Document]]) -> Iterator[tuple[str, Document]]:
        for i, (source, doc) in enumerate(documents):
            if not self.sources or self.sources[-1] != source:
                self.starts.append(i)
                self.sources.append(source)
            yield source, doc

    def source_of(self, position: int) -> str:
        return self.sources[bisect.bisect_right(self.starts, position) - 1]

    def duplicate_error(self, dup: DuplicateDocument) -> KbqaError:
        return KbqaError(
            f"duplicate document id {dup.doc_id!r} in {self.source_of(dup.position)} "
            f"(first seen in {self.source_of(dup.first)}); ids must be unique across all sources of an index"
        )


def embed_chunks(encoder: Encoder, chunks: list[Chunk], config: Config) -> np.ndarray:
    return encoder.encode_passages([embed_text(c, config.chunk) for c in chunks])


def build_version(
    folder: IndexFolder,
    documents: Iterable[tuple[str, Document]],
    *,
    encoder: Encoder,
    config: Config,
    sources: list[dict[str, Any]],
    counts: Callable[[], dict[str, int]],
    progress: bool = True,
    extra: Callable[[], dict[str, Any]] | None = None,
    block: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write a new version from ``(source, document)`` pairs and commit it; returns (name, manifest).

    Streams: reads, chunks, embeds and writes ``block`` chunks at a time, and checkpoints after each
    block, so an interrupted build run again with the same sources and settings resumes at its last
    completed block (kbqa.index.resume). Bad input (a KbqaError) discards the partial build; the
    committed versions are never touched. The caller holds the folder's lock.
    """
    from tqdm.auto import tqdm

    from kbqa.index.resume import BuildProgress, build_key

    started = time.perf_counter()
    block = block or BLOCK
    chunker = Chunker(config.chunk, encoder.tokenizer, encoder.max_tokens)
    key = build_key(sources, config.to_dict(), encoder.identity())
    spill, prior = BuildProgress.open(folder.root, key, encoder.dim)
    staging = spill.staging
    writer = VersionWriter(folder, staging, config, encoder.dim, resume=prior, defer=True)
    done_docs = prior["documents"] if prior else 0
    runs = SourceRuns()
    try:
        if prior and not writer.deferred:
            ids = [row["chunk_id"] for row in read_jsonl(staging / "chunks.jsonl")]
            for start, vectors in spill.saved_vectors(writer.n_chunks, 8 * block):
                writer.index.add(ids[start : start + len(vectors)], vectors)
            del ids
        with tqdm(desc="indexing", unit=" chunks", disable=not progress, dynamic_ncols=True, initial=writer.n_chunks) as bar:
            for rows, chunks in background(iter_blocks(_skip(runs.track(documents), done_docs), chunker, block)):
                try:
                    writer.add_documents(rows)
                except DuplicateDocument as dup:
                    raise runs.duplicate_error(dup) from None
                if chunks:
                    vectors = embed_chunks(encoder, chunks, config)
                    writer.add_chunks(chunks, vectors)
                    spill.append(vectors)
                done_docs += len(rows)
                spill.save({"documents": done_docs, **writer.checkpoint()})
                bar.update(len(chunks))
        if writer.n_chunks == 0:
            raise KbqaError(
                "no document with text was found in " + ", ".join(s["source"] for s in sources) + "; nothing to index"
            )
        if writer.deferred:
            writer.adopt_vectors(spill.memmap(writer.n_chunks))
        spill.finish()  # the memory map keeps the unlinked spill readable until the index is saved
        return writer.commit(
            {
                "embedder": encoder.identity(),
                "chunker": {**dataclasses.asdict(config.chunk), "max_tokens": encoder.max_tokens},
                "sources": sources,
                "counts": counts(),
                **(extra() if extra else {}),
            },
            started,
        )
    except KbqaError:
        writer.close()
        spill.close()
        shutil.rmtree(staging, ignore_errors=True)  # bad input: the fix may change what was read
        raise
    finally:
        writer.close()
        spill.close()


def _skip(documents: Iterable[tuple[str, Document]], n: int) -> Iterator[tuple[str, Document]]:
    """``documents`` after the first ``n`` (written before an interruption: their ids are in the store)."""
    for i, item in enumerate(documents):
        if i >= n:
            yield item


def check_target(folder: IndexFolder, overwrite: bool) -> None:
    """Refuse to build into a file, or into a folder that holds anything unless ``overwrite``
    (an interrupted build's lock file and resumable build folder do not count: the build resumes)."""
    from kbqa.index.resume import BUILD_PREFIX

    if folder.root.exists() and not folder.root.is_dir():
        raise KbqaError(f"{folder.root} exists and is not a folder")
    held = folder.root.is_dir() and any(
        p.name != ".lock" and not p.name.startswith(BUILD_PREFIX) for p in folder.root.iterdir()
    )
    if held and not overwrite:
        what = "an index" if folder.exists() else "files"
        raise KbqaError(f"{folder.root} already holds {what}; pass --overwrite (overwrite=True) to replace it")


def build_index(
    sources: Sequence[str | Path],
    index_dir: str | Path,
    config: Config,
    *,
    format: str | None = None,
    overwrite: bool = False,
    mirror: str | Path | None = None,
    progress: bool = True,
    columns: dict[str, str] | None = None,
    deidentifier: Any = None,
) -> tuple[Encoder, Any]:
    """Index ``sources`` (files, folders or recipe names) into ``index_dir`` as a new committed
    version; returns the encoder and the loaders' ``LoadStats``.

    ``deidentifier`` (a ``Document -> Document`` callable with ``describe()``, such as
    kbqa.deid's ``DocumentDeidentifier``) is applied to every document before it is chunked, embedded or
    written, and its ``describe()`` is recorded in the manifest under ``deidentification``.

    An existing index is refused unless ``overwrite``; with it, the new version is written beside
    the old ones, which go only once it is committed.
    """
    from kbqa.corpus import LoadStats, iter_documents, resolve_source
    from kbqa.embed import available_model, load_encoder

    if (model := available_model(config.embed.model)) != config.embed.model:
        config = config.replace(embed={"model": model})
    if not sources:
        raise KbqaError("no source given: pass files, folders or recipe names to index")
    folder = IndexFolder(index_dir)
    check_target(folder, overwrite)
    resolved = [resolve_source(s, mirror=mirror) for s in sources]
    stats = LoadStats()
    source_info = [
        {"source": str(s), "path": str(path), "format": format or fmt} for s, (path, fmt) in zip(sources, resolved)
    ]

    def documents() -> Iterator[tuple[str, Document]]:
        for info in source_info:
            for doc in iter_documents(info["path"], info["format"], stats=stats, mirror=mirror, columns=columns):
                yield info["source"], (doc if deidentifier is None else deidentifier(doc))

    def counts() -> dict[str, int]:
        return {"skipped_empty": stats.skipped_empty, "skipped_unanswered": stats.skipped_unanswered, "files": stats.files}

    encoder = load_encoder(config.embed)
    with folder.lock():
        old = folder.versions()
        pointer_before = folder.exists()
        build_version(
            folder, documents(), encoder=encoder, config=config, sources=source_info, counts=counts, progress=progress,
            extra=None if deidentifier is None else lambda: {"deidentification": deidentifier.describe()},
        )
        if overwrite and pointer_before:
            for name in old:  # the new version is committed: the replaced index goes
                folder.discard(name)
            from kbqa.index.segments import collect_garbage

            collect_garbage(folder.root)  # and the segments only its versions listed
    return encoder, stats


def _kbqa_version() -> str:
    from kbqa.version import __version__

    return __version__
