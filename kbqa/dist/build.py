"""`kbqa index build --engine ray`: reading, chunking and embedding as a Ray Data pipeline.

    sources --(one read task per source)--> documents --(map_batches, actor pool: chunk + embed)-->
    per-document rows --(driver, in order)--> embedding shards on disk --> VersionWriter --> version

Each actor loads the encoder once (a GPU per actor when the cluster has GPUs). Ray Data keeps the
order of the sources and documents (``preserve_order``), so the chunks, their order and the vectors
equal a single-process build's and the index folder is the same format: shards are written beside
the index, then the normal versioned writer adds them shard by shard (a trainable index kind trains
once, on a sample of all of them) and commits atomically. The shards are removed afterwards.
Interrupting the build leaves the committed versions untouched, as a local build does.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.config import Config, from_dict
from kbqa.errors import KbqaError, missing_extra
from kbqa.jsonlines import read_jsonl
from kbqa.types import Chunk, Document

DOCS_PER_BATCH = 64  # documents per actor call (a few hundred chunks: batches the encoder well)
SHARD_CHUNKS = 8192  # chunks per embedding shard on disk


def import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise missing_extra("ray[data]", "dist") from None
    return ray


def _read_source(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Ray task: every document of one source as a JSON row, then one row of reading statistics."""
    from kbqa.corpus import LoadStats, iter_documents

    stats = LoadStats()
    out = [
        {"seq": i, "source": row["source"], "doc": json.dumps(dataclasses.asdict(doc), ensure_ascii=False)}
        for i, doc in enumerate(iter_documents(row["path"], row["format"], stats=stats, mirror=row["mirror"],
                                               columns=json.loads(row["columns"]) or None))
    ]
    counts = {"skipped_empty": stats.skipped_empty, "skipped_unanswered": stats.skipped_unanswered, "files": stats.files}
    out.append({"seq": len(out), "source": row["source"], "doc": json.dumps({"__stats__": counts})})
    return out


class _ChunkEmbed:
    """Ray actor: the encoder and chunker, loaded once; documents in, chunks and vectors out."""

    def __init__(self, config: dict[str, Any]) -> None:
        from kbqa.chunk import Chunker
        from kbqa.embed import load_encoder

        self.config = from_dict(config)
        self.encoder = load_encoder(self.config.embed)
        self.chunker = Chunker(self.config.chunk, self.encoder.tokenizer, self.encoder.max_tokens)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        from kbqa.index.build import embed_chunks
        from kbqa.index.manifest import document_checksum

        out: dict[str, list[Any]] = {"source": [], "doc": [], "checksum": [], "chunks": [], "vectors": []}
        chunks_all: list[Chunk] = []
        spans = []
        for source, doc_json in zip(batch["source"], batch["doc"]):
            data = json.loads(doc_json)
            if "__stats__" in data:
                chunks: list[Chunk] = []
                checksum = ""
            else:
                doc = Document(**data)
                chunks = self.chunker.split(doc)
                checksum = document_checksum(doc)
            spans.append((len(chunks_all), len(chunks)))
            chunks_all.extend(chunks)
            out["source"].append(str(source))
            out["doc"].append(str(doc_json))
            out["checksum"].append(checksum)
            out["chunks"].append(json.dumps([_chunk_dict(c) for c in chunks], ensure_ascii=False))
        vectors = embed_chunks(self.encoder, chunks_all, self.config) if chunks_all else np.zeros((0, 1), np.float32)
        for start, n in spans:
            out["vectors"].append(np.ascontiguousarray(vectors[start:start + n], dtype=np.float32).tobytes())
        return out


def _chunk_dict(c: Chunk) -> dict[str, Any]:
    return {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "text": c.text, "start": c.start, "end": c.end}


def ray_build(
    sources: Sequence[str | Path] | str | Path,
    index_dir: str | Path,
    config: Config | None = None,
    *,
    address: str | None = None,
    format: str | None = None,
    overwrite: bool = False,
    mirror: str | Path | None = None,
    progress: bool = True,
    columns: dict[str, str] | None = None,
    actors: int | None = None,
) -> Any:
    """Build ``index_dir`` from ``sources`` on a Ray cluster (``address``; default: a local instance).

    ``actors``: embedding actors (default: one per GPU, else one per 2 CPUs of the cluster).
    Returns the loaded KnowledgeBase, as ``KnowledgeBase.build`` does.
    """
    from tqdm.auto import tqdm

    from kbqa.corpus import resolve_source
    from kbqa.embed import load_encoder
    from kbqa.index.build import VersionWriter
    from kbqa.index.store import IndexFolder
    from kbqa.pipeline import KnowledgeBase

    ray = import_ray()
    config = config or Config()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if not sources:
        raise KbqaError("no source given: pass files, folders or recipe names to index")
    folder = IndexFolder(index_dir)
    if folder.root.is_dir() and any(folder.root.iterdir()) and not overwrite:
        raise KbqaError(f"{folder.root} already holds files; pass --overwrite (overwrite=True) to replace it")
    resolved = [resolve_source(s, mirror=mirror) for s in sources]
    source_info = [{"source": str(s), "path": str(p), "format": format or f} for s, (p, f) in zip(sources, resolved)]
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    resources = ray.cluster_resources()
    n_gpu = int(resources.get("GPU", 0))
    n_actors = actors or max(1, n_gpu or int(resources.get("CPU", 1)) // 2)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # the same document order as a local build
    if not progress:
        ctx.enable_progress_bars = False
    started = time.perf_counter()
    items = [{**i, "mirror": str(mirror) if mirror else None, "columns": json.dumps(columns or {})} for i in source_info]
    ds = (
        ray.data.from_items(items, override_num_blocks=len(items))
        .flat_map(_read_source)
        .map_batches(
            _ChunkEmbed,
            fn_constructor_args=(config.to_dict(),),
            batch_size=DOCS_PER_BATCH,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            num_gpus=1 if n_gpu else 0,
        )
    )
    encoder = load_encoder(config.embed)  # the driver's copy: manifest identity and the returned KnowledgeBase
    counts = {"skipped_empty": 0, "skipped_unanswered": 0, "files": 0}
    with folder.lock():
        old = folder.versions()
        pointer_before = folder.exists()
        with folder.staging() as staging:
            shards = staging / "shards"
            shards.mkdir()
            writer = VersionWriter(folder, staging, config, encoder.dim)
            try:
                n_shards = _write_shards(ds, shards, writer, counts, encoder.dim, tqdm(
                    desc="embedding (ray)", unit=" docs", disable=not progress, dynamic_ncols=True))
                for i in range(n_shards):  # the index from the shards, in order
                    chunks = [Chunk(**r) for r in read_jsonl(shards / f"{i:05d}.jsonl")]
                    vectors = np.load(shards / f"{i:05d}.npy", allow_pickle=False, mmap_mode="r")
                    writer.add_chunks(chunks, np.asarray(vectors))
                shutil.rmtree(shards)
                if writer.n_chunks == 0:
                    raise KbqaError("no document with text was found in " + ", ".join(s["source"] for s in source_info)
                                    + "; nothing to index")
                writer.commit(
                    {
                        "embedder": encoder.identity(),
                        "chunker": {**dataclasses.asdict(config.chunk), "max_tokens": encoder.max_tokens},
                        "sources": source_info,
                        "counts": counts,
                        "engine": {"name": "ray", "ray_version": ray.__version__, "actors": n_actors, "gpus": n_gpu},
                    },
                    started,
                )
            finally:
                writer.close()
        if overwrite and pointer_before:
            for name in old:
                folder.discard(name)
    return KnowledgeBase.load(index_dir, encoder=encoder, search=config.search)


def _write_shards(ds: Any, shards: Path, writer: Any, counts: dict[str, int], dim: int, bar: Any) -> int:
    """Stream the pipeline's rows in order: document rows to the writer, chunks and vectors to shards."""
    from kbqa.index.build import doc_row

    first_source: dict[str, str] = {}
    chunk_rows: list[str] = []
    vectors: list[np.ndarray] = []
    n_shards = 0

    def flush() -> None:
        nonlocal n_shards
        if not chunk_rows:
            return
        (shards / f"{n_shards:05d}.jsonl").write_text("".join(chunk_rows), encoding="utf-8")
        np.save(shards / f"{n_shards:05d}.npy", np.concatenate(vectors), allow_pickle=False)
        chunk_rows.clear()
        vectors.clear()
        n_shards += 1

    with bar:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for source, doc_json, checksum, chunks_json, vec in zip(
                batch["source"], batch["doc"], batch["checksum"], batch["chunks"], batch["vectors"]
            ):
                data = json.loads(doc_json)
                if "__stats__" in data:
                    for key, value in data["__stats__"].items():
                        counts[key] += value
                    continue
                doc = Document(**data)
                if doc.doc_id in first_source:
                    raise KbqaError(
                        f"duplicate document id {doc.doc_id!r} in {source} (first seen in {first_source[doc.doc_id]}); "
                        "ids must be unique across all sources of an index"
                    )
                first_source[doc.doc_id] = str(source)
                chunks = json.loads(chunks_json)
                writer.add_documents([doc_row(doc, str(checksum), len(chunks))])
                for c in chunks:
                    chunk_rows.append(json.dumps({**c, "title": doc.title, "meta": doc.meta}, ensure_ascii=False) + "\n")
                if chunks:
                    vectors.append(np.frombuffer(vec, dtype=np.float32).reshape(len(chunks), dim))
                if len(chunk_rows) >= SHARD_CHUNKS:
                    flush()
                bar.update(1)
    flush()
    return n_shards
