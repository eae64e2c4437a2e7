"""Incremental updates of an index folder: add new documents, re-embed changed ones, drop withdrawn ones.

    report = update_index("idx", ["pubmed25n1275.xml.gz"], delete_ids=["123"], keep=3)

An update reads the current version under the writer lock and sorts every incoming document by
checksum into new, changed or unchanged. Only the chunks of new and changed documents are embedded,
and they are written as one new segment (kbqa/index/segments.py); the chunks of changed and removed
documents are marked in the deletion bitmaps of the segments holding them, and a new version listing
the segments is committed (staging folder, rename, atomic pointer switch). Nothing else is rewritten,
so what an update writes is proportional to the update. Trained index kinds (kbqa/index/kinds.py)
give the new segment an empty copy of their trained index (no retraining). ``kbqa index compact``
(kbqa/index/compact.py) merges the segments back into one piece.

Withdrawn documents come from PubMed ``<DeleteCitation>`` records met while reading the sources,
from ``delete_ids``, or (``sync=True``) from everything the sources no longer hold.

PubMed update files (``kbqa index update pubmed-updates/*.xml.gz --index DIR``) are applied in order
of file name (pubmed25n1275 before pubmed25n1276, whatever order they are given in; other sources
are read first, in the order given): a PMID revised in a later file wins, a ``<DeleteCitation>``
removes a citation an earlier file added, and a citation deleted then re-added comes back. Each
version's manifest lists the PubMed files applied up to it (``applied_files``: name, sha256, bytes,
per-file added/changed/unchanged/deleted counts, the version that applied it, when). A file already
applied (same name and sha256) is skipped; one with the same name but other bytes is an error naming
it (PubMed never changes a published file: re-download it, or roll back to the version before the one
that applied it), and so is a new file whose name sorts before an applied one (it would bring back
older revisions; ``allow_older=True`` / ``--allow-older`` accepts it). The list travels with the
version, so a rollback makes the files applied after the target version applicable again, and
compaction keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.config import Config, from_dict
from kbqa.errors import KbqaError
from kbqa.index.manifest import DocumentsDigest, check_embedder, document_checksum, manifest_digest, read_manifest
from kbqa.index.store import IndexFolder
from kbqa.types import Chunk, Document

if TYPE_CHECKING:
    import numpy as np

DEFAULT_KEEP = 3  # committed versions kept after an update (the current one included)


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
    applied_files: tuple[dict[str, Any], ...] = ()  # PubMed files applied by this update (manifest entries)
    skipped_files: tuple[dict[str, Any], ...] = ()  # PubMed files skipped: already applied (name, path, version)

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
        if self.skipped_files:
            skipped.append(f"{len(self.skipped_files)} already applied file(s)")
        return (
            f"{head}: added {len(self.added)}, changed {len(self.changed)}, removed {len(self.removed)}, "
            f"unchanged {self.unchanged}; embedded {self.chunks_embedded} chunks, reused {self.chunks_reused}"
            + (f"; applied {len(self.applied_files)} PubMed file(s)" if self.applied_files else "")
            + (f"; skipped {', '.join(skipped)}" if skipped else "")
            + (f"; {len(self.retracted)} retracted (excluded from search by default)" if self.retracted else "")
            + (f"; pruned {', '.join(self.pruned)}" if self.pruned else "")
            + f" [{self.seconds:.1f} s]"
        )


class _Checksums(Mapping[str, str]):
    """doc id -> checksum of a version's live documents, looked up in its chunk store(s) on access (the
    manifest holds no per-document map); the documents an update asks about are remembered."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._seen: dict[str, str | None] = {}

    def _lookup(self, doc_id: str) -> str | None:
        if doc_id not in self._seen:
            row = self.store.document(doc_id)
            self._seen[doc_id] = None if row is None else row["checksum"]
        return self._seen[doc_id]

    def __getitem__(self, doc_id: str) -> str:
        found = self._lookup(doc_id) if isinstance(doc_id, str) else None
        if found is None:
            raise KeyError(doc_id)
        return found

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._lookup(doc_id) is not None

    def __iter__(self) -> Iterator[str]:
        return (row["doc_id"] for row in self.store.iter_documents())

    def __len__(self) -> int:
        return int(self.store.n_documents)


@dataclass
class _Base:
    """The current version as an update needs it: its manifest and live documents' checksums."""

    name: str
    path: Path
    manifest: dict[str, Any]
    docs: Mapping[str, str]  # doc id -> checksum
    store: Any = None  # what ``docs`` reads from (closed by ``close``)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _read_base(folder: IndexFolder) -> _Base:
    from kbqa.index.chunkstore import ChunkStore
    from kbqa.index.segment_store import SegmentedStore
    from kbqa.index.segments import is_segmented, open_stores

    name = folder.current()
    vdir = folder.version_dir(name)
    manifest = read_manifest(vdir)
    if "counts" not in manifest or not isinstance(manifest.get("documents_digest", manifest.get("documents")), (str, dict)):
        raise KbqaError(
            f"version {name} of {folder.root} has no document record in its manifest; run "
            f"`kbqa index check --index {folder.root}` and `kbqa index rollback` to a good version"
        )
    if isinstance(manifest.get("documents"), dict):  # written before the digest: the manifest holds the map
        return _Base(name, vdir, manifest, manifest["documents"])
    if is_segmented(manifest):
        store = SegmentedStore(open_stores(folder.root, vdir, manifest), int(manifest["counts"]["documents"]))
    else:
        store = ChunkStore.open(vdir, required=False)
    return _Base(name, vdir, manifest, _Checksums(store), store)


@dataclass
class _Scan:
    """The sources read against the base: documents to (re-)index, ids seen, ids withdrawn."""

    fresh: dict[str, tuple[Document, str]] = field(default_factory=dict)  # new or changed, arrival order
    seen: set[str] = field(default_factory=set)
    withdrawn: dict[str, None] = field(default_factory=dict)  # an ordered set
    first_source: dict[str, tuple[str, str]] = field(default_factory=dict)  # doc id -> (source, format)
    infos: list[dict[str, Any]] = field(default_factory=list)
    skipped_empty: int = 0

    def live(self, doc_id: str, base: _Base) -> str | None:
        """The checksum ``doc_id`` has at this point of the scan (None: not in the index)."""
        if doc_id in self.withdrawn:
            return None
        if doc_id in self.fresh:
            return self.fresh[doc_id][1]
        return base.docs.get(doc_id)

    def withdraw(self, ids: Iterable[str], base: _Base | None = None) -> int:
        """Withdraw ``ids``; returns how many of them were in the index at this point (with ``base``)."""
        held = 0
        for doc_id in ids:
            held += base is not None and self.live(doc_id, base) is not None
            self.fresh.pop(doc_id, None)
            self.seen.discard(doc_id)
            self.first_source.pop(doc_id, None)
            self.withdrawn[doc_id] = None
        return held

    def offer(self, doc: Document, source: str, fmt: str, base: _Base) -> str:
        """Take ``doc`` in; returns "added", "changed" or "unchanged" against the scan so far."""
        earlier = self.first_source.get(doc.doc_id)
        if earlier is not None and not (earlier[1] == fmt == "pubmed"):
            raise KbqaError(
                f"duplicate document id {doc.doc_id!r} in {source} (first seen in {earlier[0]}); "
                "ids must be unique across all sources of an update (only PubMed XML files may revise "
                "each other's records)"
            )
        self.first_source[doc.doc_id] = (source, fmt)  # a later PubMed file's record of the PMID revises it
        checksum = document_checksum(doc)
        before = self.live(doc.doc_id, base)
        self.withdrawn.pop(doc.doc_id, None)
        self.seen.add(doc.doc_id)
        if base.docs.get(doc.doc_id) == checksum:
            self.fresh.pop(doc.doc_id, None)
        else:
            self.fresh[doc.doc_id] = (doc, checksum)
        return "added" if before is None else "unchanged" if before == checksum else "changed"


@dataclass(frozen=True)
class _Unit:
    """One thing the scan reads: a source as given, or one PubMed XML file (``name``/``sha256`` set)."""

    source: str
    path: Path
    format: str
    name: str = ""
    sha256: str = ""
    bytes: int = 0


def _plan(
    sources: Sequence[str | Path], base: _Base, *, format: str | None, mirror: str | Path | None, sync: bool,
    allow_older: bool = False,
) -> tuple[list[_Unit], list[dict[str, Any]]]:
    """What to read, in order: the non-PubMed sources as given, then every PubMed XML file by name,
    without those already applied (same name and sha256; re-read with ``sync``). Returns (units,
    skipped files). A file applied before under the same name with other bytes is an error, and so
    (unless ``allow_older`` or ``sync``) is a new file whose name sorts before an applied one."""
    from kbqa.corpus import infer_format, resolve_source, source_files
    from kbqa.files import sha256_file

    others: list[_Unit] = []
    pubmed: dict[str, _Unit] = {}
    for source in sources:
        path, recipe_format = resolve_source(source, mirror=mirror)
        fmt = format or recipe_format or infer_format(path)
        if fmt != "pubmed":
            others.append(_Unit(str(source), path, fmt))
            continue
        for file in source_files(path, fmt):
            if file.name in pubmed and pubmed[file.name].path.resolve() != file.resolve():
                raise KbqaError(
                    f"two PubMed files named {file.name}: {pubmed[file.name].path} and {file}; files are applied "
                    "and recorded by name, so give one of them"
                )
            pubmed[file.name] = _Unit(str(file), file, fmt, file.name, sha256_file(file), file.stat().st_size)
    applied = {e["name"]: e for e in base.manifest.get("applied_files") or []}
    latest = max(applied, default="")
    units, skipped = list(others), []
    for name in sorted(pubmed):
        unit, done = pubmed[name], applied.get(name)
        if done is not None and done["sha256"] != unit.sha256:
            raise KbqaError(
                f"{unit.path}: a file named {name} was applied in version {done['version']} with sha256 "
                f"{done['sha256'][:16]}..., this one has {unit.sha256[:16]}...; PubMed does not change a published "
                f"file, so re-download it, or roll back to the version before {done['version']} "
                f"(`kbqa index versions` / `kbqa index rollback`) to apply this one instead"
            )
        if done is not None and not sync:
            skipped.append({"name": name, "path": str(unit.path), "version": done["version"]})
            continue
        if done is None and name < latest and not (sync or allow_older):
            raise KbqaError(
                f"{unit.path}: {name} sorts before {latest}, already applied in version "
                f"{applied[latest]['version']}; applying it now would bring back older revisions of the "
                "citations both hold. Roll back to the version before that one and apply the files in order, "
                "or pass --allow-older (allow_older=True) if the names do not encode the order"
            )
        units.append(unit)
    return units, skipped


def _scan(
    units: Sequence[_Unit],
    base: _Base,
    *,
    mirror: str | Path | None,
    columns: Mapping[str, str] | None,
    deidentifier: Any = None,
) -> tuple[_Scan, list[dict[str, Any]]]:
    """Read every unit once, in order. A ``<DeleteCitation>`` withdraws a PMID read earlier; a later
    record of the same PMID revises it or brings it back (PubMed files are applied in order).
    Returns the scan and, per PubMed file read, its counts."""
    from kbqa.corpus import LoadStats, iter_documents

    scan = _Scan()
    files: list[dict[str, Any]] = []
    for unit in units:
        scan.infos.append({"source": unit.source, "path": str(unit.path), "format": unit.format})
        stats = LoadStats()
        counts = {"added": 0, "changed": 0, "unchanged": 0, "deleted": 0}
        applied = 0
        for doc in iter_documents(unit.path, unit.format, stats=stats, mirror=mirror, columns=columns):
            counts["deleted"] += scan.withdraw(stats.deleted[applied:], base)  # deletions met before this record
            applied = len(stats.deleted)
            counts[scan.offer(doc if deidentifier is None else deidentifier(doc), unit.source, unit.format, base)] += 1
        counts["deleted"] += scan.withdraw(stats.deleted[applied:], base)
        scan.skipped_empty += stats.skipped_empty
        if unit.name:
            files.append({"name": unit.name, "sha256": unit.sha256, "bytes": unit.bytes, **counts,
                          "skipped_empty": stats.skipped_empty})
    return scan, files


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
    allow_older: bool = False,
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

    PubMed XML files are applied in order of file name and recorded in the manifest (``applied_files``,
    see the module docstring); ``allow_older`` accepts a new file whose name sorts before one applied.
    """
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
        try:
            return _update(folder, base, sources, explicit, sync, keep, encoder, format, mirror, columns, progress,
                           deidentifier, allow_older, started)
        finally:
            base.close()


def _update(
    folder: IndexFolder, base: _Base, sources: list[Any], explicit: list[str], sync: bool, keep: int, encoder: Any,
    format: str | None, mirror: str | Path | None, columns: Mapping[str, str] | None, progress: bool,
    deidentifier: Any, allow_older: bool, started: float,
) -> UpdateReport:
    _check_deidentification(base.manifest, deidentifier, bool(sources), folder.root)
    config = from_dict(base.manifest["config"], source=f"{folder.root}/{base.name}/manifest.json")
    units, skipped_files = _plan(sources, base, format=format, mirror=mirror, sync=sync, allow_older=allow_older)
    scan, files = _scan(units, base, mirror=mirror, columns=columns, deidentifier=deidentifier)
    known = {f["name"] for f in base.manifest.get("applied_files") or []}
    new_files = [f for f in files if f["name"] not in known]  # sync re-reads applied files, not re-recorded
    scan.withdraw(explicit)  # explicit ids win over the sources
    gone = set(scan.withdrawn)
    if sync:  # everything the sources no longer hold: one pass over the base's documents
        gone |= set(base.docs) - scan.seen
        removed = [d for d in base.docs if d in gone]
    else:
        removed = [d for d in scan.withdrawn if d in base.docs]
    not_found = [d for d in scan.withdrawn if d not in base.docs]
    changed = [d for d in scan.fresh if d in base.docs]
    added = [d for d in scan.fresh if d not in base.docs]
    retracted = [d for d, (doc, _) in scan.fresh.items() if doc.meta.get("retracted")]

    def report(version: str, embedded: int, reused: int, pruned: list[str]) -> UpdateReport:
        return UpdateReport(
            index_dir=str(folder.root), base_version=base.name, version=version, added=tuple(added),
            changed=tuple(changed), removed=tuple(removed), unchanged=len(base.docs) - len(changed) - len(removed),
            not_found=tuple(not_found), skipped_empty=scan.skipped_empty, retracted=tuple(retracted),
            chunks_embedded=embedded, chunks_reused=reused, pruned=tuple(pruned),
            seconds=round(time.perf_counter() - started, 3), applied_files=tuple(recorded),
            skipped_files=tuple(skipped_files),
        )

    recorded: list[dict[str, Any]] = []
    if not (added or changed or removed or new_files):
        return report(base.name, 0, 0, [])
    if len(removed) == len(base.docs) and not added:
        raise KbqaError(
            f"this update would remove all {len(base.docs)} documents of {folder.root}; "
            "build a new index instead (`kbqa index build ... --overwrite`)"
        )
    fresh_rows, fresh_chunks, fresh_vectors = _embed_fresh(scan.fresh, base, config, encoder, progress)
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    version = folder.next_version()  # the name commit gives the new version (we hold the lock)
    recorded = [{**f, "version": version, "applied_at": when} for f in new_files]
    applied_files = list(base.manifest.get("applied_files") or []) + recorded
    name, reused = _commit_segment_update(
        folder, base, config, scan, fresh_rows, fresh_chunks, fresh_vectors, removed + changed,
        {"base": base.name, "added": len(added), "changed": len(changed), "removed": len(removed),
         "chunks_embedded": len(fresh_vectors), "skipped_empty": scan.skipped_empty},
        {**_deidentification(base.manifest, deidentifier),
         **({"applied_files": applied_files} if applied_files else {})},
        started,
    )
    pruned = folder.prune(keep)
    return report(name, len(fresh_vectors), reused, pruned)


def _commit_segment_update(
    folder: IndexFolder, base: _Base, config: Config, scan: _Scan, fresh_rows: dict[str, dict[str, Any]],
    fresh_chunks: dict[str, list[Chunk]], fresh_vectors: np.ndarray, replaced: list[str],
    update_info: dict[str, Any], extra: dict[str, Any], started: float,
) -> tuple[str, int]:
    """One new segment for the fresh documents, bitmaps over the replaced and removed ones, a new
    version listing them (kbqa.index.segment_write); returns (version, chunks kept from the base)."""
    from kbqa.index import segment_write as sw

    dim = int(base.manifest["embedder"]["dim"])
    entries, masks = sw.base_segments(folder, base.name, base.manifest)
    retracted = int(base.manifest["counts"].get("retracted", 0)) - sw.mark_deleted(folder.root, entries, masks, replaced)
    retracted += sum(bool(row["meta"].get("retracted")) for row in fresh_rows.values())
    if fresh_rows:
        starts, offset = {}, 0
        for doc_id, cs in fresh_chunks.items():
            starts[doc_id] = offset
            offset += len(cs)
        docs = (
            (fresh_rows[d], fresh_chunks[d], fresh_vectors[starts[d]:starts[d] + len(fresh_chunks[d])])
            for d in scan.fresh
        )
        name, n = sw.write_segment(folder, config, dim, sw.empty_twin(folder.root, entries, config, dim), docs,
                                   f"update of {base.name}")
        entries.append({"name": name, "chunks": n, "deleted": 0})
        masks[name] = None
    digest = DocumentsDigest(manifest_digest(base.manifest))  # the base's, less what is replaced, plus the fresh
    for d in replaced:
        digest.remove(d, base.docs[d])
    for d, row in fresh_rows.items():
        digest.add(d, row["checksum"])
    n_documents = int(base.manifest["counts"]["documents"]) - len(replaced) + len(fresh_rows)
    kept = sum(int(e["chunks"]) for e in entries) - sum(int(m.sum()) for m in masks.values() if m is not None)
    kept -= len(fresh_vectors)
    update_info = {**update_info, "chunks_reused": kept}
    sources = list(base.manifest.get("sources", [])) + [{**i, "update": True} for i in scan.infos]
    name = sw.commit_version(
        folder, {**base.manifest, "sources": sources}, entries, masks, (digest.hex(), n_documents), retracted,
        {"update": update_info, **extra}, started,
    )
    return name, kept


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
