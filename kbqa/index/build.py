"""Build one index version: documents -> chunks -> vectors -> a committed version folder."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from kbqa.chunk import Chunker, embed_text
from kbqa.config import Config
from kbqa.embed import Encoder
from kbqa.errors import KbqaError
from kbqa.index.base import create_index
from kbqa.index.manifest import FORMAT, FORMAT_VERSION, document_checksum, index_fingerprint
from kbqa.index.store import IndexFolder, write_atomic
from kbqa.types import Chunk, Document

BLOCK = 2048  # chunks embedded per call: big enough to batch well, small enough to show progress


def doc_row(doc: Document, checksum: str, n_chunks: int) -> dict[str, Any]:
    return {"doc_id": doc.doc_id, "title": doc.title, "meta": doc.meta, "checksum": checksum, "n_chunks": n_chunks}


def chunk_row(chunk: Chunk) -> dict[str, Any]:
    return {"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end, "text": chunk.text}


def build_version(
    folder: IndexFolder,
    documents: Iterable[tuple[str, Document]],
    *,
    encoder: Encoder,
    config: Config,
    sources: list[dict[str, Any]],
    counts: Callable[[], dict[str, int]],
    progress: bool = True,
) -> tuple[str, dict[str, Any]]:
    """Write a new version from ``(source, document)`` pairs and commit it; returns (name, manifest).

    Anything raised on the way (bad input, Ctrl-C) discards the staging folder and leaves the
    committed versions untouched. The caller holds the folder's lock.
    """
    import json

    from tqdm.auto import tqdm

    started = time.perf_counter()
    chunker = Chunker(config.chunk, encoder.tokenizer, encoder.max_tokens)
    index = create_index(config.index, encoder.dim)
    checksums: dict[str, str] = {}
    first_source: dict[str, str] = {}
    pending: list[Chunk] = []
    n_chunks = 0
    n_retracted = 0
    bar = tqdm(desc="indexing", unit=" chunks", disable=not progress, dynamic_ncols=True)

    def flush(chunks_out: Any) -> None:
        nonlocal n_chunks
        if not pending:
            return
        vectors = encoder.encode_passages([embed_text(c, config.chunk) for c in pending])
        index.add([c.chunk_id for c in pending], vectors)
        for c in pending:
            chunks_out.write(json.dumps(chunk_row(c), ensure_ascii=False, separators=(",", ":")) + "\n")
        n_chunks += len(pending)
        bar.update(len(pending))
        pending.clear()

    with folder.staging() as staging:
        with open(staging / "documents.jsonl", "w", encoding="utf-8") as docs_out, open(
            staging / "chunks.jsonl", "w", encoding="utf-8"
        ) as chunks_out:
            for source, doc in documents:
                if doc.doc_id in checksums:
                    raise KbqaError(
                        f"duplicate document id {doc.doc_id!r} in {source} (first seen in {first_source[doc.doc_id]}); "
                        "ids must be unique across all sources of an index"
                    )
                first_source[doc.doc_id] = source
                checksum = document_checksum(doc)
                checksums[doc.doc_id] = checksum
                n_retracted += bool(doc.meta.get("retracted"))
                chunks = chunker.split(doc)
                docs_out.write(json.dumps(doc_row(doc, checksum, len(chunks)), ensure_ascii=False) + "\n")
                pending.extend(chunks)
                if len(pending) >= BLOCK:
                    flush(chunks_out)
            flush(chunks_out)
        bar.close()
        if n_chunks == 0:
            raise KbqaError(
                "no document with text was found in " + ", ".join(s["source"] for s in sources) + "; nothing to index"
            )
        index.save(staging)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kbqa_version": _kbqa_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "embedder": encoder.identity(),
            "chunker": {**dataclasses.asdict(config.chunk), "max_tokens": encoder.max_tokens},
            "index": {"backend": config.index.backend, "factory": config.index.factory},
            "config": config.to_dict(),
            "sources": sources,
            "counts": {"documents": len(checksums), "chunks": n_chunks, "vectors": len(index), **counts(), "retracted": n_retracted},
            "build_seconds": round(time.perf_counter() - started, 3),
            "documents": checksums,
        }
        manifest["fingerprint"] = index_fingerprint(manifest)
        write_atomic(staging / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        name = folder.commit(staging)
    manifest["version"] = name
    return name, manifest


def _kbqa_version() -> str:
    from kbqa import __version__

    return __version__


