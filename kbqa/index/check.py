"""Integrity check of an index version: counts agree, checksums match, every id resolves.

    report = check_index("idx")           # the current version
    if not report.ok: print(report.problems)

What is checked, for one version folder:
- manifest.json reads, and its fingerprint recomputes;
- every file's sha256 equals the "files" map written at commit time, and no file is missing or extra;
- documents.jsonl: unique ids, checksums add up to the manifest's documents digest, counts equal the manifest's;
- chunks.jsonl: unique ids ``doc#i``, every chunk's document exists, ``n_chunks`` per document agrees;
- ids.json lists exactly the chunk ids, in order; vectors.npy is (chunks x dim), finite, unit length;
- faiss.index (faiss backend) holds the same number of vectors, equal to vectors.npy where it can say;
- lexical/ (when the config keeps a BM25 side) indexes exactly the chunk ids, in order;
- store.sqlite (the chunk store read at query time) opens and holds the same chunks and documents;
- a segmented version (kbqa.index.segments): each segment it lists exists and passes the checks
  above against its segment.json, each deletion bitmap reads and fits its segment, and the live
  documents and chunks add up to the manifest's.
Problems make the version unfit to serve; warnings (leftovers of a crashed writer) do not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.index.manifest import documents_digest, index_fingerprint, read_manifest
from kbqa.index.store import POINTER, STAGING_PREFIX, TRASH_PREFIX, IndexFolder, file_checksums, resolve_version

SHOW = 5  # ids listed per kind of problem


@dataclass(frozen=True)
class CheckReport:
    """The outcome for one version; ``ok`` when there is no problem."""

    index_dir: str
    version: str
    current: bool
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _some(ids: Any) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - SHOW} more" if len(ids) > SHOW else ""
    return ", ".join(repr(i) for i in ids[:SHOW]) + more


class _Checker:
    def __init__(self, vdir: Path, *, meta_file: str = "manifest.json") -> None:
        self.vdir = vdir
        self.meta_file = meta_file  # manifest.json, or segment.json for a segment folder
        self.problems: list[str] = []
        self.counts: dict[str, int] = {}
        self.chunk_docs: list[str] | None = None

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def jsonl(self, name: str) -> list[dict[str, Any]] | None:
        path = self.vdir / name
        rows = []
        try:
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, start=1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            self.fail(f"{name}:{n}: not valid JSON ({exc.msg})")
                            return None
        except FileNotFoundError:
            self.fail(f"{name} is missing")
            return None
        except UnicodeDecodeError:
            self.fail(f"{name} is not UTF-8")
            return None
        return rows

    def run(self) -> None:
        try:
            manifest = read_manifest(self.vdir)
        except KbqaError as exc:
            self.fail(str(exc))
            return
        self.files(manifest)
        if manifest.get("segments"):
            self.segmented(manifest)
        else:
            self.contents(manifest)
        counts = manifest.get("counts", {})
        for key in ("documents", "chunks", "vectors"):
            have = self.counts.get(key)
            if have is not None and counts.get(key) != have:
                self.fail(f"manifest counts {counts.get(key)} {key}, the version holds {have}")
        try:
            if index_fingerprint(manifest) != manifest.get("fingerprint"):
                self.fail("manifest fingerprint does not match its contents (the manifest was edited)")
        except (KeyError, TypeError, AttributeError) as exc:
            self.fail(f"manifest lacks a field the fingerprint needs ({exc})")

    def contents(self, manifest: dict[str, Any]) -> list[str] | None:
        """The data files of a one-piece version or a segment; returns their chunk ids."""
        docs = self.documents(manifest)
        chunk_ids = self.chunks(docs) if docs is not None else None
        if chunk_ids is not None:
            self.vectors(manifest, chunk_ids)
            self.lexical(manifest, chunk_ids)
            self.store(chunk_ids, len(docs))
        return chunk_ids

    def segmented(self, manifest: dict[str, Any]) -> None:
        """Every segment the version lists (whole, as a one-piece version is), its bitmap, and the
        live documents and chunks they add up to."""
        from kbqa.index.segments import SEGMENT_META, load_bitmap, segment_dir

        live_docs: dict[str, str] = {}
        live_chunks = 0
        for entry in manifest["segments"]:
            path = segment_dir(self.vdir.parent, entry["name"])
            where = f"segment {entry['name']} ({path})"
            try:
                meta = json.loads((path / SEGMENT_META).read_text(encoding="utf-8"))
            except FileNotFoundError:
                self.fail(f"{where} is missing" if not path.is_dir() else f"{where}: {SEGMENT_META} is missing")
                continue
            except (OSError, ValueError) as exc:
                self.fail(f"{where}: {SEGMENT_META} cannot be read ({exc.__class__.__name__})")
                continue
            sub = _Checker(path, meta_file=SEGMENT_META)
            sub.files(meta)
            ids = sub.contents({**meta, "embedder": manifest.get("embedder", {}), "index": manifest.get("index", {}),
                                "config": manifest.get("config", {})})
            self.problems += [f"{where}: {p}" for p in sub.problems]
            if ids is not None and len(ids) != entry.get("chunks"):
                self.fail(f"{where} holds {len(ids)} chunks, the manifest lists {entry.get('chunks')}")
            try:
                mask = load_bitmap(self.vdir, entry)
            except KbqaError as exc:
                self.fail(str(exc))
                continue
            live_chunks += int(entry.get("chunks", 0)) - (int(mask.sum()) if mask is not None else 0)
            held = meta["documents"] if "documents" in meta else {
                d: row.get("checksum") for d, row in (getattr(sub, "docs", None) or {}).items()}
            # a document's copy here is dead iff its rows are marked, and then all of them are
            dead: set[str] = set()
            if mask is not None and sub.chunk_docs is not None and len(mask) == len(sub.chunk_docs):
                dead = {sub.chunk_docs[r] for r in np.flatnonzero(mask)}
                partly = {d for r, d in enumerate(sub.chunk_docs) if d in dead and not mask[r]}
                if partly:
                    self.fail(f"{where}: document(s) {_some(partly)} have some chunks deleted and others not")
            twice = {d for d in held if d not in dead and d in live_docs}
            if twice:
                self.fail(f"document(s) {_some(twice)} are live in two segments (the older copy is not deleted)")
            live_docs.update((d, c) for d, c in held.items() if d not in dead)
        recorded = manifest.get("documents")
        if isinstance(recorded, dict):  # a manifest written before the documents digest
            missing = set(recorded) - set(live_docs)
            if missing:
                self.fail(f"document(s) {_some(missing)} are in the manifest but in no segment")
            extra = set(live_docs) - set(recorded)
            if extra:
                self.fail(f"document(s) {_some(extra)} are live in a segment but not in the manifest")
            stale = {d for d in set(recorded) - missing if recorded[d] != live_docs[d]}
            if stale:
                self.fail(f"document(s) {_some(stale)}: the manifest's checksum is not the newest segment's")
        elif documents_digest(live_docs.items()) != manifest.get("documents_digest"):
            self.fail("the live documents of the segments (ids and checksums) do not add up to the manifest's "
                      "documents_digest: a segment or bitmap is not the one this version was committed with")
        self.counts.update(documents=len(live_docs), chunks=live_chunks, vectors=live_chunks)

    def files(self, manifest: dict[str, Any]) -> None:
        recorded = manifest.get("files")
        if recorded is None:
            return  # versions written before kbqa recorded file checksums; the other checks still apply
        actual = file_checksums(self.vdir)
        actual.pop(self.meta_file, None)
        for rel in sorted(set(recorded) - set(actual)):
            self.fail(f"{rel} is missing")
        for rel in sorted(set(actual) - set(recorded)):
            self.fail(f"{rel} is not part of this version (unexpected file)")
        for rel in sorted(set(recorded) & set(actual)):
            if recorded[rel] != actual[rel]:
                self.fail(f"{rel}: sha256 differs from the one recorded at commit (the file was modified or damaged)")

    def documents(self, manifest: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
        rows = self.jsonl("documents.jsonl")
        if rows is None:
            return None
        docs: dict[str, dict[str, Any]] = {}
        dups = set()
        for row in rows:
            if row.get("doc_id") in docs:
                dups.add(row.get("doc_id"))
            docs[row.get("doc_id")] = row
        if dups:
            self.fail(f"documents.jsonl repeats document id(s) {_some(dups)}")
        self.counts["documents"] = len(docs)
        self.docs = docs
        if "documents" not in manifest and self.meta_file != "manifest.json":
            return docs  # a segment adopted from a version: its documents.jsonl (sha256 checked) is the record
        if "documents" not in manifest and "documents_digest" in manifest:  # a one-piece version
            if documents_digest((d, row.get("checksum")) for d, row in docs.items()) != manifest["documents_digest"]:
                self.fail("the ids and checksums of documents.jsonl do not add up to the manifest's documents_digest "
                          "(documents.jsonl or the manifest was edited)")
            return docs
        recorded = manifest.get("documents", {})
        if set(recorded) - set(docs):
            self.fail(f"document(s) {_some(set(recorded) - set(docs))} are in the manifest but not in documents.jsonl")
        if set(docs) - set(recorded):
            self.fail(f"document(s) {_some(set(docs) - set(recorded))} are in documents.jsonl but not in the manifest")
        bad = {d for d in set(docs) & set(recorded) if docs[d].get("checksum") != recorded[d]}
        if bad:
            self.fail(f"checksum of document(s) {_some(bad)} differs between documents.jsonl and the manifest")
        self.counts["documents"] = len(docs)
        return docs

    def chunks(self, docs: dict[str, dict[str, Any]]) -> list[str] | None:
        rows = self.jsonl("chunks.jsonl")
        if rows is None:
            return None
        ids: list[str] = []
        seen: set[str] = set()
        self.chunk_docs = [row.get("doc_id") for row in rows]  # each row's document (bitmaps of segments)
        per_doc: dict[str, int] = {}
        orphans, dups, misnamed, offsets = set(), set(), set(), set()
        for row in rows:
            cid, did = row.get("chunk_id"), row.get("doc_id")
            if cid in seen:
                dups.add(cid)
            seen.add(cid)
            ids.append(cid)
            if did not in docs:
                orphans.add(cid)
            if cid != f"{did}#{per_doc.get(did, 0)}":
                misnamed.add(cid)
            per_doc[did] = per_doc.get(did, 0) + 1
            text, start, end = row.get("text"), row.get("start"), row.get("end")
            if not (isinstance(text, str) and isinstance(start, int) and isinstance(end, int) and end - start == len(text)):
                offsets.add(cid)
        for what, found in (("repeated", dups), ("of no document in documents.jsonl", orphans),
                            ("not numbered doc#0, doc#1, ... in order", misnamed), ("with bad start/end offsets", offsets)):
            if found:
                self.fail(f"chunks.jsonl: chunk id(s) {what}: {_some(found)}")
        wrong = {d for d, row in docs.items() if row.get("n_chunks") != per_doc.get(d, 0)}
        if wrong:
            self.fail(f"n_chunks in documents.jsonl disagrees with chunks.jsonl for document(s) {_some(wrong)}")
        self.counts["chunks"] = len(ids)
        return ids

    def store(self, chunk_ids: list[str], n_documents: int) -> None:
        """store.sqlite (versions written before it existed have none) holds the chunks of chunks.jsonl in order."""
        from kbqa.index.chunkstore import STORE, ChunkStore

        if not (self.vdir / STORE).is_file():
            return
        try:
            store = ChunkStore.open(self.vdir)
            ids = list(store.iter_ids())
        except KbqaError as exc:
            self.fail(str(exc))
            return
        if ids != chunk_ids:
            self.fail(f"{STORE} does not hold the chunk ids of chunks.jsonl in order")
        if store.n_documents != n_documents:
            self.fail(f"{STORE} holds {store.n_documents} documents, documents.jsonl {n_documents}")

    def vectors(self, manifest: dict[str, Any], chunk_ids: list[str]) -> None:
        try:
            ids = json.loads((self.vdir / "ids.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.fail(f"ids.json cannot be read ({exc.__class__.__name__})")
            return
        if ids != chunk_ids:
            missing, extra = set(chunk_ids) - set(ids), set(ids) - set(chunk_ids)
            detail = (f"; missing {_some(missing)}" if missing else "") + (f"; unknown {_some(extra)}" if extra else "")
            self.fail(f"ids.json does not list the chunk ids of chunks.jsonl in order{detail or ' (order differs)'}")
        dim = manifest.get("embedder", {}).get("dim")
        try:
            vectors = np.load(self.vdir / "vectors.npy", allow_pickle=False, mmap_mode="r")
        except (OSError, ValueError) as exc:
            self.fail(f"vectors.npy cannot be read ({exc.__class__.__name__}: {exc})")
            return
        self.counts["vectors"] = len(vectors)
        if vectors.ndim != 2 or vectors.shape != (len(ids), dim) or vectors.dtype != np.float32:
            self.fail(f"vectors.npy is {vectors.dtype} {vectors.shape}, expected float32 ({len(ids)}, {dim})")
            return
        norms = np.linalg.norm(np.asarray(vectors), axis=1) if len(vectors) else np.ones(0)
        if not np.all(np.isfinite(norms)) or np.any(np.abs(norms - 1) > 1e-3):
            self.fail("vectors.npy holds vectors that are not finite unit vectors")
        if manifest.get("index", {}).get("backend") == "faiss":
            self.faiss_file(vectors)

    def faiss_file(self, vectors: np.ndarray) -> None:
        from kbqa.index.faiss_backend import import_faiss

        faiss = import_faiss()
        try:
            index = faiss.read_index(str(self.vdir / "faiss.index"))
        except RuntimeError as exc:
            self.fail(f"faiss.index cannot be read ({str(exc).splitlines()[0] if str(exc) else 'error'})")
            return
        if (self.vdir / "index.json").is_file():  # an approximate kind: rows are mapped through labels.npy
            self.kind_files(index, vectors)
            return
        if index.ntotal != len(vectors) or index.d != vectors.shape[1]:
            self.fail(f"faiss.index holds {index.ntotal} vectors of dimension {index.d}, vectors.npy {vectors.shape}")
            return
        try:
            stored = index.reconstruct_n(0, index.ntotal) if index.ntotal else vectors
        except RuntimeError:
            return  # index kinds that cannot reconstruct: counts are all we can compare
        if len(stored) and float(np.max(np.abs(stored - vectors))) > 1e-3:
            self.fail("faiss.index and vectors.npy hold different vectors")

    def kind_files(self, index: Any, vectors: np.ndarray) -> None:
        """labels.npy: one increasing FAISS label per row; the index holds them (plus HNSW tombstones)."""
        try:
            meta = json.loads((self.vdir / "index.json").read_text(encoding="utf-8"))
            labels = np.load(self.vdir / "labels.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            self.fail(f"index.json / labels.npy cannot be read ({exc.__class__.__name__})")
            return
        if index.d != vectors.shape[1] or len(labels) != len(vectors):
            self.fail(f"labels.npy has {len(labels)} rows and faiss.index dimension {index.d}, vectors.npy {vectors.shape}")
            return
        if len(labels) > 1 and not np.all(np.diff(labels) > 0):
            self.fail("labels.npy is not strictly increasing")
        graph = meta.get("structure") == "graph"
        if index.ntotal < len(labels) or (not graph and index.ntotal != len(labels)):
            self.fail(f"faiss.index holds {index.ntotal} vectors for {len(labels)} rows ({meta.get('factory')})")

    def lexical(self, manifest: dict[str, Any], chunk_ids: list[str]) -> None:
        if not manifest.get("config", {}).get("index", {}).get("lexical") or not chunk_ids:
            return
        path = self.vdir / "lexical"
        from kbqa.lexical import MANIFEST, PARTS, lexical_parts

        if not (path / MANIFEST).is_file() and not (path / PARTS).is_file():
            self.fail("lexical/ (the BM25 side) is missing")
            return
        try:
            parts = lexical_parts(path)
        except (KbqaError, OSError, ValueError) as exc:
            self.fail(f"lexical/ cannot be loaded ({exc})")
            return
        ids = parts[0][1].ids if len(parts) == 1 else [i for _, lex in parts for i in lex.ids]
        if ids != chunk_ids:
            self.fail("lexical/ does not index the chunk ids of chunks.jsonl in order")


def check_version(folder: IndexFolder, name: str) -> CheckReport:
    """Check one version folder of ``folder``."""
    checker = _Checker(folder.version_dir(name))
    if not checker.vdir.is_dir():
        checker.fail(f"version folder {checker.vdir} is missing")
    else:
        checker.run()
    current = folder.exists() and (folder.root / POINTER).read_text(encoding="utf-8").strip() == name
    return CheckReport(str(folder.root), name, current, tuple(checker.problems), counts=checker.counts)


def check_index(index_dir: str | Path, version: str | None = None) -> CheckReport:
    """Check the current version (or ``version``) of the index at ``index_dir``.

    Leftovers of a writer that died (staging or trash folders, temporary pointer files) are
    reported as warnings: the next update or build removes them.
    """
    folder = IndexFolder(index_dir)
    name = resolve_version(folder, version) if version else folder.current()
    report = check_version(folder, name)
    leftovers = sorted(
        p.name for p in folder.root.iterdir()
        if p.name.startswith((STAGING_PREFIX, TRASH_PREFIX, f".{POINTER}.tmp-"))
    )
    warnings = [f"{n}: left by an interrupted writer; the next update removes it" for n in leftovers]
    from kbqa.index.resume import BUILD_PREFIX

    warnings += [
        f"{p.name}: an interrupted build; the same `kbqa index build` command resumes it, another build replaces it"
        for p in sorted(folder.root.iterdir()) if p.name.startswith(BUILD_PREFIX)
    ]
    return CheckReport(report.index_dir, name, report.current, report.problems, tuple(warnings), report.counts)

