"""The chunk store: chunk texts, offsets and citation metadata of one version, on disk, read by id.

``store.sqlite`` in a version folder (SQLite from the standard library; chosen over Arrow IPC and
LMDB by ``benchmarks/store_benchmark.py``, see docs/scaling.md). Serving reads the top-k of a
query by id and answers metadata filters with SQL, so memory at query time is the vector index plus
a bounded cache, not the corpus. Tables::

    info(key, value)                 format, counts
    documents(doc_id, title, meta, checksum, n_chunks, year, retracted, source, collection)
    chunks(row, chunk_id, doc_id, start, end, text)      row = order of chunks.jsonl and ids.json
    mesh(term, doc_id), pubtypes(term, doc_id)           lower-cased, for the filters

``documents.jsonl`` and ``chunks.jsonl`` stay the version's portable record (updates, checks and the
Ray path read them); the store is written beside them by the same ``VersionWriter`` and is
immutable once committed, so readers open it ``immutable=1`` (no locking, no journal).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.filters import Filters
from kbqa.types import Chunk

STORE = "store.sqlite"
FORMAT = "kbqa-store/1"
CACHE_CHUNKS = 4096  # chunks kept hydrated (LRU): a few MB, whatever the corpus size
ALLOWED_CACHE = 8  # filter results kept (a broad filter's id set can be large)

SCHEMA = """
CREATE TABLE info(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE documents(doc_id TEXT PRIMARY KEY, title TEXT, meta TEXT, checksum TEXT, n_chunks INT,
                       year INT, retracted INT, source TEXT, collection TEXT);
CREATE TABLE chunks(row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL, doc_id TEXT NOT NULL,
                    start INT, end INT, text TEXT);
CREATE TABLE mesh(term TEXT, doc_id TEXT);
CREATE TABLE pubtypes(term TEXT, doc_id TEXT);
"""
# built once all rows are in (faster than maintaining them row by row)
INDEXES = """
CREATE UNIQUE INDEX chunks_by_id ON chunks(chunk_id);
CREATE INDEX chunks_by_doc ON chunks(doc_id, start, end);
CREATE INDEX documents_by_year ON documents(year);
CREATE INDEX mesh_by_term ON mesh(term);
CREATE INDEX pubtypes_by_term ON pubtypes(term);
"""


def _year(meta: dict[str, Any]) -> int | None:
    y = meta.get("year")
    return y if isinstance(y, int) and not isinstance(y, bool) else None


def insert_rows(db: sqlite3.Connection, table: str, rows: Sequence[tuple]) -> None:
    """INSERT ``rows`` (tuples of str / int / float / None, of equal length) into ``table`` with one
    statement, the rows passed as one JSON array.

    Not ``executemany``: it releases the GIL around every row's step, and each time takes it back only
    after the interpreter's switch interval (5 ms) when another thread runs Python (a build's chunker),
    so a block's rows took seconds instead of milliseconds (measured: 6,000 rows, 49 s against 0.02 s).
    Nor multi-row VALUES: each row count is another prepared statement in the connection's cache
    (~0.5 MB each, measured), so memory grew block by block. One fixed statement releases it once."""
    if not rows:
        return
    columns = ",".join(f"json_extract(value,'$[{i}]')" for i in range(len(rows[0])))
    db.execute(f"INSERT INTO {table} SELECT {columns} FROM json_each(?)",
               (json.dumps(rows, ensure_ascii=False, allow_nan=False),))


class DuplicateDocument(KbqaError):
    """A document id added twice to one store; ``first`` and ``position`` are the two copies' positions
    (0-based, in the order documents were added) for the caller to name their sources."""

    def __init__(self, path: Path, doc_id: str, first: int, position: int) -> None:
        super().__init__(f"{path}: document id {doc_id!r} is repeated (documents {first + 1} and {position + 1})")
        self.doc_id, self.first, self.position = doc_id, first, position


class StoreWriter:
    """Writes ``store.sqlite`` into a staging folder, rows in the order given; ``finish`` seals it."""

    def __init__(self, path: Path, *, resume: tuple[int, int] | None = None) -> None:
        """A new store at ``path``; with ``resume=(documents, chunks)``, the store an interrupted
        build left there, cut back to its last checkpoint (kbqa.index.resume)."""
        self.path = path
        self.db = sqlite3.connect(path)
        # a staging file, fsynced by the folder's commit; the rollback journal keeps it whole if the
        # process dies between checkpoints, so a resumed build finds it at its last checkpoint
        self.db.executescript("PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF;")
        if resume is None:
            self.db.executescript(SCHEMA)
            self.n_documents, self.n_chunks = 0, 0
        else:
            self.n_documents, self.n_chunks = resume
            self.db.execute("DELETE FROM documents WHERE rowid > ?", (self.n_documents,))
            self.db.execute("DELETE FROM chunks WHERE row >= ?", (self.n_chunks,))
            for table in ("mesh", "pubtypes"):
                self.db.execute(f"DELETE FROM {table} WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
            self.db.commit()
            have = self.db.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)").fetchone()
            if tuple(have) != resume:
                raise KbqaError(f"{path} holds {have[0]} documents and {have[1]} chunks, fewer than its checkpoint "
                                f"({resume[0]}, {resume[1]}); build again with --overwrite")

    def checkpoint(self) -> None:
        """Make everything added so far durable across a crash of this process."""
        self.db.commit()

    def add_documents(self, rows: Iterable[dict[str, Any]]) -> None:
        docs, mesh, types = [], [], []
        for row in rows:
            meta = row["meta"]
            doc_id = row["doc_id"]
            docs.append((
                doc_id, row["title"], json.dumps(meta, ensure_ascii=False, separators=(",", ":")), row["checksum"],
                row["n_chunks"], _year(meta), int(bool(meta.get("retracted"))),
                str(meta.get("source", "")).lower(), str(meta.get("collection", "")).lower(),
            ))
            mesh.extend((t, doc_id) for t in {str(m).lower() for m in meta.get("mesh") or []})
            types.extend((t, doc_id) for t in {str(m).lower() for m in meta.get("publication_types") or []})
        try:
            insert_rows(self.db, "documents", docs)
        except sqlite3.IntegrityError:
            raise self._duplicate([d[0] for d in docs]) from None
        insert_rows(self.db, "mesh", mesh)
        insert_rows(self.db, "pubtypes", types)
        self.n_documents += len(docs)

    def _duplicate(self, ids: list[str]) -> DuplicateDocument:
        """The first of a refused block's ids that repeats a stored document or one earlier in the block."""
        earlier: dict[str, int] = {}
        for k, doc_id in enumerate(ids):
            first = earlier.get(doc_id)
            if first is None:
                row = self.db.execute(
                    "SELECT rowid FROM documents WHERE doc_id = ? AND rowid <= ?", (doc_id, self.n_documents)
                ).fetchone()
                first = None if row is None else row[0] - 1  # rowid = position + 1 (resumes cut the tail only)
            if first is not None:
                return DuplicateDocument(self.path, doc_id, first, self.n_documents + k)
            earlier[doc_id] = self.n_documents + k
        return DuplicateDocument(self.path, "?", -1, -1)  # not reached: the store refused one of them

    def add_chunks(self, chunks: Sequence[Chunk]) -> None:
        insert_rows(self.db, "chunks(row, chunk_id, doc_id, start, end, text)",
                    [(self.n_chunks + i, c.chunk_id, c.doc_id, c.start, c.end, c.text) for i, c in enumerate(chunks)])
        self.n_chunks += len(chunks)

    def finish(self) -> None:
        try:
            self.db.executescript(INDEXES)
        except sqlite3.IntegrityError:
            raise KbqaError(f"{self.path}: a chunk id is repeated") from None
        info = {"format": FORMAT, "chunks": str(self.n_chunks), "documents": str(self.n_documents)}
        self.db.executemany("INSERT INTO info VALUES (?,?)", sorted(info.items()))
        self.db.commit()
        self.db.close()

    def close(self) -> None:
        self.db.close()


def build_store(path: Path | str, doc_rows: Iterable[dict[str, Any]], chunk_rows: Iterable[dict[str, Any]]) -> None:
    """A store from documents.jsonl / chunks.jsonl rows (for versions written before the store existed)."""
    writer = StoreWriter(Path(path))
    writer.add_documents(doc_rows)
    batch: list[Chunk] = []
    for r in chunk_rows:
        batch.append(Chunk(r["chunk_id"], r["doc_id"], r["text"], r["start"], r["end"]))
        if len(batch) >= 4096:
            writer.add_chunks(batch)
            batch = []
    writer.add_chunks(batch)
    writer.finish()


class ChunkStore:
    """Read side of one version's store. Thread-safe; chunks are cached (LRU, ``CACHE_CHUNKS``)."""

    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        self._db = db
        self.where = where
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, Chunk] = OrderedDict()
        self._allowed: OrderedDict[Filters, frozenset[str]] = OrderedDict()
        info = dict(self._query("SELECT key, value FROM info"))
        if info.get("format") != FORMAT:
            raise KbqaError(f"{where}: not a kbqa chunk store (format {info.get('format')!r}); rebuild the index "
                            "with `kbqa index build ... --overwrite`")
        self.n_chunks = int(info["chunks"])
        self.n_documents = int(info["documents"])
        self.any_retracted = bool(self._query("SELECT 1 FROM documents WHERE retracted = 1 LIMIT 1"))

    @classmethod
    def open(cls, vdir: Path, *, required: bool = True) -> ChunkStore:
        """The store of version folder ``vdir``. Without ``required`` (a version written before stores
        existed), a missing store is built in memory from documents.jsonl / chunks.jsonl (rebuild the
        index to serve it from disk)."""
        path = vdir / STORE
        if not path.is_file():
            if required:
                raise KbqaError(f"{path} is missing; run `kbqa index check`, roll back to an earlier version "
                                "(`kbqa index rollback`) or rebuild the index")
            return cls._in_memory(vdir)
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            return cls(db, str(path))
        except sqlite3.DatabaseError as exc:
            raise KbqaError(f"{path} is damaged ({exc}); run `kbqa index check`, or roll back to an earlier "
                            "version (`kbqa index rollback`) or rebuild the index") from None

    @classmethod
    def _in_memory(cls, vdir: Path) -> ChunkStore:
        from kbqa.jsonlines import read_jsonl

        db = sqlite3.connect(":memory:", check_same_thread=False)
        writer = StoreWriter.__new__(StoreWriter)
        writer.path, writer.db, writer.n_chunks, writer.n_documents = vdir / STORE, db, 0, 0
        writer.db.executescript(SCHEMA)
        writer.add_documents(read_jsonl(vdir / "documents.jsonl"))
        rows = read_jsonl(vdir / "chunks.jsonl")
        writer.add_chunks([Chunk(r["chunk_id"], r["doc_id"], r["text"], r["start"], r["end"]) for r in rows])
        writer.db.executescript(INDEXES)
        writer.db.executemany("INSERT INTO info VALUES (?,?)", [
            ("format", FORMAT), ("chunks", str(writer.n_chunks)), ("documents", str(writer.n_documents))])
        return cls(db, f"{vdir} (no {STORE}: held in memory)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise KbqaError(f"{self.where} could not be read ({exc}); run `kbqa index check`") from None

    # ---- chunks ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_chunks

    def chunks(self, ids: Iterable[str]) -> dict[str, Chunk]:
        """The chunks with these ids (unknown ids are left out), read in one query."""
        out: dict[str, Chunk] = {}
        missing = []
        with self._lock:
            for cid in ids:
                hit = self._cache.get(cid)
                if hit is None:
                    missing.append(cid)
                else:
                    self._cache.move_to_end(cid)
                    out[cid] = hit
        for start in range(0, len(missing), 500):  # SQLite's bound-parameter limit
            part = missing[start:start + 500]
            rows = self._query(
                "SELECT c.chunk_id, c.doc_id, c.text, c.start, c.end, d.title, d.meta FROM chunks c "
                f"JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id IN ({','.join('?' * len(part))})", part)
            for row in rows:
                out[row[0]] = _chunk(row)
        with self._lock:
            for cid in missing:
                if cid in out:
                    self._cache[cid] = out[cid]
            while len(self._cache) > CACHE_CHUNKS:
                self._cache.popitem(last=False)
        return out

    def chunk(self, chunk_id: str) -> Chunk | None:
        return self.chunks([chunk_id]).get(chunk_id)

    def iter_chunks(self, batch: int = 2048) -> Iterator[Chunk]:
        """Every chunk, in row order, read in batches (nothing is held beyond one batch)."""
        last = -1
        while True:
            rows = self._query(
                "SELECT c.chunk_id, c.doc_id, c.text, c.start, c.end, d.title, d.meta, c.row FROM chunks c "
                "JOIN documents d ON d.doc_id = c.doc_id WHERE c.row > ? ORDER BY c.row LIMIT ?", (last, batch))
            if not rows:
                return
            metas: dict[str, dict[str, Any]] = {}  # one meta object per document, as before
            for row in rows:
                meta = metas.setdefault(row[1], json.loads(row[6]))
                yield Chunk(row[0], row[1], row[2], row[3], row[4], row[5], meta)
            last = rows[-1][7]

    def iter_ids(self, batch: int = 65536) -> Iterator[str]:
        last = -1
        while True:
            rows = self._query("SELECT row, chunk_id FROM chunks WHERE row > ? ORDER BY row LIMIT ?", (last, batch))
            if not rows:
                return
            yield from (r[1] for r in rows)
            last = rows[-1][0]

    def ids_at(self, rows: Sequence[int]) -> list[str]:
        """The chunk ids at these rows, in row order."""
        out: list[tuple[int, str]] = []
        for start in range(0, len(rows), 500):
            part = [int(r) for r in rows[start:start + 500]]
            out += self._query(f"SELECT row, chunk_id FROM chunks WHERE row IN ({','.join('?' * len(part))})", part)
        return [cid for _, cid in sorted(out)]

    def doc_ids_at(self, rows: Sequence[int]) -> set[str]:
        """The documents of the chunks at these rows."""
        out: set[str] = set()
        for start in range(0, len(rows), 500):
            part = [int(r) for r in rows[start:start + 500]]
            out.update(d for (d,) in self._query(
                f"SELECT DISTINCT doc_id FROM chunks WHERE row IN ({','.join('?' * len(part))})", part))
        return out

    def rows_of_documents(self, doc_ids: Sequence[str]) -> list[tuple[int, str]]:
        """(row, doc_id) of every chunk of these documents."""
        out: list[tuple[int, str]] = []
        doc_ids = list(doc_ids)
        for start in range(0, len(doc_ids), 500):
            part = doc_ids[start:start + 500]
            out += self._query(f"SELECT row, doc_id FROM chunks WHERE doc_id IN ({','.join('?' * len(part))})", part)
        return out

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        rows = self._query(
            "SELECT c.chunk_id, c.doc_id, c.text, c.start, c.end, d.title, d.meta FROM chunks c "
            "JOIN documents d ON d.doc_id = c.doc_id WHERE c.doc_id = ? ORDER BY c.start, c.end", (doc_id,))
        return [_chunk(r) for r in rows]

    # ---- documents ------------------------------------------------------------------------
    def document(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT doc_id, title, meta, checksum, n_chunks FROM documents WHERE doc_id = ?", (doc_id,))
        return _doc(rows[0]) if rows else None

    def iter_documents(self, batch: int = 4096) -> Iterator[dict[str, Any]]:
        last = -1
        while True:
            rows = self._query("SELECT doc_id, title, meta, checksum, n_chunks, rowid FROM documents "
                               "WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, batch))
            if not rows:
                return
            yield from (_doc(r) for r in rows)
            last = rows[-1][5]

    # ---- filters --------------------------------------------------------------------------
    def allowed(self, filters: Filters) -> frozenset[str]:
        """Ids of the chunks whose document passes ``filters`` (the semantics of ``Filters.accepts``)."""
        with self._lock:
            if filters in self._allowed:
                self._allowed.move_to_end(filters)
                return self._allowed[filters]
        where, args = sql_filter(filters)
        ids = frozenset(r[0] for r in self._query(
            f"SELECT c.chunk_id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE {where}", args))
        with self._lock:
            self._allowed[filters] = ids
            while len(self._allowed) > ALLOWED_CACHE:
                self._allowed.popitem(last=False)
        return ids


def sql_filter(f: Filters) -> tuple[str, list[Any]]:
    """A WHERE clause over ``documents d`` equal to ``Filters.accepts`` on the document's meta."""
    where, args = ["1"], []
    if not f.include_retracted:
        where.append("d.retracted = 0")
    if f.year_min is not None or f.year_max is not None:
        where.append("d.year IS NOT NULL")
    if f.year_min is not None:
        where.append("d.year >= ?")
        args.append(f.year_min)
    if f.year_max is not None:
        where.append("d.year <= ?")
        args.append(f.year_max)
    if f.source is not None:
        where.append("(d.source = ? OR d.collection = ?)")
        args += [f.source.lower(), f.source.lower()]
    if f.mesh is not None:
        where.append("d.doc_id IN (SELECT doc_id FROM mesh WHERE term = ?)")
        args.append(f.mesh.lower())
    if f.publication_type is not None:
        where.append("d.doc_id IN (SELECT doc_id FROM pubtypes WHERE term = ?)")
        args.append(f.publication_type.lower())
    return " AND ".join(where), args


def _chunk(row: tuple) -> Chunk:
    return Chunk(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))


def _doc(row: tuple) -> dict[str, Any]:
    return {"doc_id": row[0], "title": row[1], "meta": json.loads(row[2]), "checksum": row[3], "n_chunks": row[4]}


class ChunksView(Mapping[str, Chunk]):
    """``kb.chunks``: chunk id -> Chunk, read from the store on access."""

    def __init__(self, store: ChunkStore) -> None:
        self._store = store

    def __getitem__(self, chunk_id: str) -> Chunk:
        chunk = self._store.chunk(chunk_id)
        if chunk is None:
            raise KeyError(chunk_id)
        return chunk

    def __contains__(self, chunk_id: object) -> bool:
        return isinstance(chunk_id, str) and self._store.chunk(chunk_id) is not None

    def __iter__(self) -> Iterator[str]:
        return self._store.iter_ids()

    def __len__(self) -> int:
        return self._store.n_chunks

    def values(self) -> Iterator[Chunk]:  # type: ignore[override]
        return self._store.iter_chunks()


class DocumentsView(Mapping[str, dict[str, Any]]):
    """``kb.documents``: doc id -> its documents.jsonl row, read from the store on access."""

    def __init__(self, store: ChunkStore) -> None:
        self._store = store

    def __getitem__(self, doc_id: str) -> dict[str, Any]:
        row = self._store.document(doc_id)
        if row is None:
            raise KeyError(doc_id)
        return row

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._store.document(doc_id) is not None

    def __iter__(self) -> Iterator[str]:
        return (d["doc_id"] for d in self._store.iter_documents())

    def __len__(self) -> int:
        return self._store.n_documents

    def values(self) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        return self._store.iter_documents()
