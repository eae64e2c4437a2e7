"""Incremental updates of an index folder: add new documents, re-embed changed ones, drop withdrawn ones.

    report = update_index("idx", ["pubmed25n1275.xml.gz"], delete_ids=["123"], keep=3)

An update reads the current version under the writer lock and sorts every incoming document by
checksum into new, changed or unchanged. Only the chunks of new and changed documents are embedded;
every other vector is copied from the current version. The result goes through the same
``VersionWriter`` as a full build and is committed as a new version (staging folder, rename,
atomic pointer switch), so documents.jsonl, chunks.jsonl, the vectors and the BM25 side equal those
of a fresh build over the final corpus: changed documents keep their place, new ones are appended.
Approximate index kinds (kbqa/index/kinds.py) are patched instead: the base version's trained index
loses the chunks of removed and changed documents (IVF ``remove_ids``; HNSW tombstones) and gains
the new ones, without retraining; their rows are the kept documents, then changed and new ones.

Withdrawn documents come from PubMed ``<DeleteCitation>`` records met while reading the sources,
from ``delete_ids``, or (``sync=True``) from everything the sources no longer hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.config import Config, from_dict
from kbqa.errors import KbqaError
from kbqa.index.manifest import check_embedder, document_checksum, read_manifest
from kbqa.index.store import IndexFolder
from kbqa.jsonlines import read_jsonl
from kbqa.types import Chunk, Document

if TYPE_CHECKING:
    import numpy as np

DEFAULT_KEEP = 3  # committed versions kept after an update (the current one included)
_DERIVED_COUNTS = ("documents", "chunks", "vectors", "retracted")


@dataclass(frozen=True)
class UpdateReport:
    """What an update did. ``version`` is the current version afterwards (``base_version`` when
    nothing changed: then no version is committed)."""

    index_dir: str
    base_version: str
    version: str
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    not_found: tuple[str, ...]  # ids asked to be removed that the index did not hold
    skipped_empty: int  # source records without text (not indexed)
    retracted: tuple[str, ...]  # added or changed documents flagged retracted (excluded from search)
    chunks_embedded: int
    chunks_reused: int
    pruned: tuple[str, ...]
    seconds: float

    @property
    def committed(self) -> bool:
        return self.version != self.base_version

    def summary(self) -> str:
        """One line for people: what was added / changed / removed / skipped."""
        head = (
            f"{self.base_version} -> {self.version}" if self.committed else f"{self.base_version} unchanged (no new version)"
        )
        skipped = [f"{self.skipped_empty} empty record(s)"] if self.skipped_empty else []
        if self.not_found:
            skipped.append(f"{len(self.not_found)} id(s) to remove not in the index")
        return (
            f"{head}: added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
            f"unchanged {self.unchanged}; embedded {self.chunks_embedded} chunks, reused {self.chunks_reused}"
            + (f"; skipped {', '.join(skipped)}" if skipped else "")
            + (f"; {len(self.retracted)} retracted (excluded from search by default)" if self.retracted else "")
            + (f"; pruned {', '.join(self.pruned)}" if self.pruned else "")
            + f" [{self.seconds:.1f} s]"
        )


@dataclass
class _Base:
    """The current version as an update needs it: rows in order, vectors memory-mapped."""

    name: str
    path: Path
    manifest: dict[str, Any]
    docs: dict[str, dict[str, Any]]
    chunks: dict[str, list[dict[str, Any]]]
    rows: dict[str, int]
    vectors: np.ndarray


def _read_base(folder: IndexFolder) -> _Base:
    import numpy as np

    name = folder.current()
    vdir = folder.version_dir(name)
    manifest = read_manifest(vdir)
    try:
        docs = {row["doc_id"]: row for row in read_jsonl(vdir / "documents.jsonl")}
        chunks: dict[str, list[dict[str, Any]]] = {}
        for row in read_jsonl(vdir / "chunks.jsonl"):
            chunks.setdefault(row["doc_id"], []).append(row)
        ids = json.loads((vdir / "ids.json").read_text(encoding="utf-8"))
        vectors = np.load(vdir / "vectors.npy", allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise KbqaError(
            f"cannot read version {name} of {folder.root} ({exc}); run `kbqa index check --index {folder.root}` "
            "and `kbqa index rollback` to a good version"
        ) from None
    n_chunks = sum(len(c) for c in chunks.values())
    if not (len(ids) == len(vectors) == n_chunks):
        raise KbqaError(
            f"version {name} of {folder.root} is damaged ({n_chunks} chunks, {len(ids)} ids, {len(vectors)} vectors); "
            f"run `kbqa index check --index {folder.root}`"
        )
    return _Base(name, vdir, manifest, docs, chunks, {cid: i for i, cid in enumerate(ids)}, vectors)


@dataclass
class _Scan:
    """The sources read against the base: documents to (re-)index, ids seen, ids withdrawn."""

    fresh: dict[str, tuple[Document, str]] = field(default_factory=dict)  # new or changed, arrival order
    seen: set[str] = field(default_factory=set)
    withdrawn: dict[str, None] = field(default_factory=dict)  # an ordered set
    first_source: dict[str, str] = field(default_factory=dict)
    infos: list[dict[str, Any]] = field(default_factory=list)
    skipped_empty: int = 0

    def withdraw(self, ids: Iterable[str]) -> None:
        for doc_id in ids:
            self.fresh.pop(doc_id, None)
            self.seen.discard(doc_id)
            self.first_source.pop(doc_id, None)
            self.withdrawn[doc_id] = None

    def offer(self, doc: Document, source: str, fmt: str, base: _Base) -> None:
        earlier = self.first_source.get(doc.doc_id)
        if earlier is not None and not (earlier == source and fmt == "pubmed"):
            raise KbqaError(
                f"duplicate document id {doc.doc_id!r} in {source} (first seen in {earlier}); "
                "ids must be unique across all sources of an update"
            )
        self.first_source[doc.doc_id] = source  # a later PubMed record of the same PMID revises it
        self.withdrawn.pop(doc.doc_id, None)
        self.seen.add(doc.doc_id)
        checksum = document_checksum(doc)
        old = base.docs.get(doc.doc_id)
        if old is not None and old["checksum"] == checksum:
            self.fresh.pop(doc.doc_id, None)
        else:
            self.fresh[doc.doc_id] = (doc, checksum)


def _scan(
    sources: Sequence[str | Path],
    base: _Base,
    *,
    format: str | None,
    mirror: str | Path | None,
    columns: Mapping[str, str] | None,
    deidentifier: Any = None,
) -> _Scan:
    """Read every source once. A ``<DeleteCitation>`` withdraws a PMID read earlier; a later record
    of the same PMID brings it back (PubMed update files are applied in order)."""
    from kbqa.corpus import LoadStats, infer_format, iter_documents, resolve_source

    scan = _Scan()
    for source in sources:
        path, recipe_format = resolve_source(source, mirror=mirror)
        fmt = format or recipe_format or infer_format(path)
        scan.infos.append({"source": str(source), "path": str(path), "format": fmt})
        stats = LoadStats()
        applied = 0
        for doc in iter_documents(path, fmt, stats=stats, mirror=mirror, columns=columns):
            scan.withdraw(stats.deleted[applied:])  # deletions met before this record
            applied = len(stats.deleted)
            scan.offer(doc if deidentifier is None else deidentifier(doc), str(source), fmt, base)
        scan.withdraw(stats.deleted[applied:])
        scan.skipped_empty += stats.skipped_empty
    return scan


def update_index(
    index_dir: str | Path,
    sources: Sequence[str | Path] | str | Path = (),
    *,
    delete_ids: Iterable[str] = (),
    sync: bool = False,
    keep: int = DEFAULT_KEEP,
    encoder: Any = None,
    format: str | None = None,
    mirror: str | Path | None = None,
    columns: Mapping[str, str] | None = None,
    progress: bool = False,
    deidentifier: Any = None,
) -> UpdateReport:
    """Bring the index at ``index_dir`` up to date with ``sources`` and commit a new version.

    New documents are added, documents whose checksum changed are re-chunked and re-embedded,
    unchanged ones keep their vectors. ``delete_ids`` (and PubMed ``<DeleteCitation>`` records)
    are removed; with ``sync`` every document absent from ``sources`` is removed too. Afterwards
    all but the newest ``keep`` versions are pruned (the current one is always kept). ``encoder``
    defaults to the model named in the index's manifest and is loaded only if something needs
    embedding. A failure or interruption at any point leaves the current version as it was.

    ``deidentifier`` (see ``build_index``) is required for sources added to an index built with
    de-identification, and refused for an index built without it (its stored documents are not).
    """
    from kbqa.index.build import BLOCK, VersionWriter

    started = time.perf_counter()
    if isinstance(sources, (str, Path)):
        sources = [sources]
    sources = list(sources)
    explicit = [str(i).strip() for i in delete_ids if str(i).strip()]
    if keep < 1:
        raise KbqaError(f"keep must be at least 1 (the current version), got {keep}")
    if sync and not sources:
        raise KbqaError("sync removes every document absent from the sources, but no source was given")
    if not sources and not explicit:
        raise KbqaError("nothing to update: give sources to add or refresh, or ids to remove")
    folder = IndexFolder(index_dir)
    folder.current()  # a clear error when there is no index, before the lock creates the folder
    with folder.lock():
        base = _read_base(folder)
        _check_deidentification(base.manifest, deidentifier, bool(sources), folder.root)
        config = from_dict(base.manifest["config"], source=f"{folder.root}/{base.name}/manifest.json")
        scan = _scan(sources, base, format=format, mirror=mirror, columns=columns, deidentifier=deidentifier)
        scan.withdraw(explicit)  # explicit ids win over the sources
        gone = set(scan.withdrawn)
        if sync:
            gone |= set(base.docs) - scan.seen
        removed = [d for d in base.docs if d in gone]
        not_found = [d for d in scan.withdrawn if d not in base.docs]
        changed = [d for d in scan.fresh if d in base.docs]
        added = [d for d in scan.fresh if d not in base.docs]
        incremental = _incremental(config)
        if incremental:  # the index is patched in place: kept rows first, re-embedded ones appended
            order = [d for d in base.docs if d not in gone and d not in scan.fresh] + changed + added
        else:  # flat: the same rows, in the same order, as a fresh build of the final corpus
            order = [d for d in base.docs if d not in gone] + added
        retracted = [d for d, (doc, _) in scan.fresh.items() if doc.meta.get("retracted")]

        def report(version: str, embedded: int, reused: int, pruned: list[str]) -> UpdateReport:
            return UpdateReport(
                index_dir=str(folder.root), base_version=base.name, version=version, added=tuple(added),
                changed=tuple(changed), removed=tuple(removed), unchanged=len(base.docs) - len(changed) - len(removed),
                not_found=tuple(not_found), skipped_empty=scan.skipped_empty, retracted=tuple(retracted),
                chunks_embedded=embedded, chunks_reused=reused, pruned=tuple(pruned),
                seconds=round(time.perf_counter() - started, 3),
            )

        if not (added or changed or removed):
            return report(base.name, 0, 0, [])
        if not order:
            raise KbqaError(
                f"this update would remove all {len(base.docs)} documents of {folder.root}; "
                "build a new index instead (`kbqa index build ... --overwrite`)"
            )
        fresh_rows, fresh_chunks, fresh_vectors = _embed_fresh(scan.fresh, base, config, encoder, progress)
        dim = int(base.manifest["embedder"]["dim"])
        with folder.staging() as staging:
            seed = _patched_index(base, config, dim, removed + changed) if incremental else None
            writer = VersionWriter(folder, staging, config, dim, index=seed)
            try:
                reused = _write(writer, order, base, fresh_rows, fresh_chunks, fresh_vectors, block=4 * BLOCK)
                update_info = {
                    "base": base.name, "added": len(added), "changed": len(changed), "removed": len(removed),
                    "chunks_embedded": len(fresh_vectors), "chunks_reused": reused,
                    "skipped_empty": scan.skipped_empty,
                }
                name, _ = writer.commit(
                    {
                        "embedder": base.manifest["embedder"],
                        "chunker": base.manifest["chunker"],
                        "sources": list(base.manifest.get("sources", [])) + [{**i, "update": True} for i in scan.infos],
                        "counts": {k: v for k, v in base.manifest.get("counts", {}).items() if k not in _DERIVED_COUNTS},
                        "update": update_info,
                        **_deidentification(base.manifest, deidentifier),
                    },
                    started,
                )
            finally:
                writer.close()
        pruned = folder.prune(keep)
        return report(name, len(fresh_vectors), reused, pruned)


def _check_deidentification(manifest: dict[str, Any], deidentifier: Any, adding: bool, where: Path) -> None:
    built = bool(manifest.get("deidentification", {}).get("applied"))
    if built and adding and deidentifier is None:
        raise KbqaError(
            f"{where} was built with de-identification: new documents must be de-identified too "
            "(`kbqa index update ... --deidentify`, or deidentifier=kbqa.deid.DocumentDeidentifier())"
        )
    if deidentifier is not None and not built:
        raise KbqaError(
            f"{where} was built without de-identification, so the documents it holds are not de-identified; "
            "rebuild it with `kbqa index build ... --deidentify --overwrite`"
        )


def _deidentification(manifest: dict[str, Any], deidentifier: Any) -> dict[str, Any]:
    """The manifest entry of an update: the base's, with this update's run beside it."""
    if "deidentification" not in manifest:
        return {}
    entry = dict(manifest["deidentification"])
    if deidentifier is not None:
        entry["last_update"] = deidentifier.describe()
    return {"deidentification": entry}


def _incremental(config: Config) -> bool:
    """Approximate kinds are updated in place (no retraining, HNSW tombstones); Flat is rewritten."""
    from kbqa.index.faiss_backend import is_flat

    return config.index.backend == "faiss" and not is_flat(config.index.factory)


def _patched_index(base: _Base, config: Config, dim: int, drop_docs: list[str]) -> Any:
    """The base version's trained index with the chunks of removed and changed documents taken out."""
    from kbqa.index.factory import load_index

    index = load_index(base.path, config.index, dim)
    index.remove({c["chunk_id"] for d in drop_docs for c in base.chunks.get(d, ())})
    return index


def _embed_fresh(
    fresh: dict[str, tuple[Document, str]], base: _Base, config: Config, encoder: Any, progress: bool
) -> tuple[dict[str, dict[str, Any]], dict[str, list[Chunk]], np.ndarray]:
    """Chunk and embed new and changed documents exactly as a full build would."""
    import numpy as np

    from kbqa.chunk import Chunker
    from kbqa.index.build import BLOCK, doc_row, embed_chunks

    dim = int(base.manifest["embedder"]["dim"])
    if not fresh:
        return {}, {}, np.zeros((0, dim), dtype=np.float32)
    if encoder is None:
        from kbqa.embed import load_encoder

        encoder = load_encoder(config.embed)
    check_embedder(base.manifest, encoder.identity(), base.path)
    if base.manifest["chunker"].get("max_tokens") not in (None, encoder.max_tokens):
        raise KbqaError(
            f"the index was chunked for {base.manifest['chunker']['max_tokens']} tokens, the encoder reads "
            f"{encoder.max_tokens}; rebuild the index"
        )
    chunker = Chunker(config.chunk, encoder.tokenizer, encoder.max_tokens)
    rows: dict[str, dict[str, Any]] = {}
    chunks: dict[str, list[Chunk]] = {}
    for doc_id, (doc, checksum) in fresh.items():
        chunks[doc_id] = chunker.split(doc)
        rows[doc_id] = doc_row(doc, checksum, len(chunks[doc_id]))
    flat = [c for cs in chunks.values() for c in cs]
    from tqdm.auto import tqdm

    parts = []
    with tqdm(total=len(flat), desc="embedding", unit=" chunks", disable=not progress, dynamic_ncols=True) as bar:
        for i in range(0, len(flat), BLOCK):  # the same blocks as a build: same batching, same vectors
            parts.append(embed_chunks(encoder, flat[i : i + BLOCK], config))
            bar.update(len(parts[-1]))
    vectors = np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)
    return rows, chunks, vectors


def _write(
    writer: Any,
    order: list[str],
    base: _Base,
    fresh_rows: dict[str, dict[str, Any]],
    fresh_chunks: dict[str, list[Chunk]],
    fresh_vectors: np.ndarray,
    *,
    block: int,
) -> int:
    """Feed the final corpus to ``writer`` in order; returns how many vectors were reused."""
    import numpy as np

    fresh_start: dict[str, int] = {}
    offset = 0
    for doc_id, cs in fresh_chunks.items():
        fresh_start[doc_id] = offset
        offset += len(cs)
    chunks: list[Chunk] = []
    source: list[int] = []  # >= 0: row of the base vectors; < 0: -1 - row of the fresh vectors
    reused = 0

    def flush() -> None:
        if not chunks:
            return
        src = np.asarray(source, dtype=np.int64)
        vecs = np.empty((len(src), fresh_vectors.shape[1]), dtype=np.float32)
        old = src >= 0
        if old.any():
            vecs[old] = base.vectors[src[old]]
        if (~old).any():
            vecs[~old] = fresh_vectors[-1 - src[~old]]
        writer.add_chunks(list(chunks), vecs)
        chunks.clear()
        source.clear()

    for doc_id in order:
        if doc_id in fresh_rows:
            writer.add_documents([fresh_rows[doc_id]])
            chunks.extend(fresh_chunks[doc_id])
            source.extend(-1 - (fresh_start[doc_id] + i) for i in range(len(fresh_chunks[doc_id])))
        else:
            row = base.docs[doc_id]
            writer.add_documents([row])
            for c in base.chunks.get(doc_id, ()):
                chunks.append(_chunk(c, row))
                source.append(base.rows[c["chunk_id"]])
                reused += 1
        if len(chunks) >= block:
            flush()
    flush()
    return reused


def _chunk(row: dict[str, Any], doc: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=row["chunk_id"], doc_id=row["doc_id"], text=row["text"], start=row["start"], end=row["end"],
        title=doc["title"], meta=doc["meta"],
    )


def read_id_file(path: str | Path) -> list[str]:
    """Document ids, one per line; blank lines and lines starting with '#' are ignored."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KbqaError(f"id file not found: {p}") from None
    except UnicodeDecodeError:
        raise KbqaError(f"{p}: not UTF-8 text; give one document id per line") from None
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]
