"""Chunk-store candidates for issue #22: SQLite (standard library), Arrow IPC memory-mapped (pyarrow),
LMDB (py-lmdb, with a numpy columnar side file for filters).

The rows are the chunks and documents of a real kbqa index version (``--index``), repeated with
changed ids (``~r<i>`` suffixes) up to ``--n`` chunks. Each candidate runs in its own process
(clean resident memory) and reports:

* ``write_s`` / ``bytes``: writing the whole store, and its size on disk;
* ``open_rss_mb``: anonymous RSS growth from opening the store (what serving pays before a query);
* ``hydrate_ms_p50`` / ``p95``: reading 10 random chunks by id with their document's title and
  metadata (the top-k hydration of one search), 1,000 times;
* ``rss_after_mb``: anonymous RSS growth after those reads;
* ``filter_ms``: chunk ids passing year 2010-2020 + a MeSH term (a selective filter) and
  year >= 2000 (a broad one), median of 5.

    OMP_NUM_THREADS=1 python benchmarks/store_benchmark.py --index /tmp/scale/kb-old --n 200000 \
        --out benchmarks/results/store_benchmark.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("sqlite", "arrow", "lmdb")


def anon_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rows(index: Path, n: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(chunk row, its document row) pairs, the real ones repeated with changed ids up to ``n``."""
    from kbqa.index.store import IndexFolder

    folder = IndexFolder(index)
    docs = {d["doc_id"]: d for d in folder.document_rows()}
    chunks = list(folder.chunk_rows())
    made = 0
    rep = 0
    while made < n:
        for c in chunks:
            if made >= n:
                return
            sfx = f"~r{rep}" if rep else ""
            d = docs[c["doc_id"]]
            yield {**c, "chunk_id": c["chunk_id"] + sfx, "doc_id": c["doc_id"] + sfx}, {**d, "doc_id": d["doc_id"] + sfx}
            made += 1
        rep += 1


def _year(meta: dict[str, Any]) -> int:
    y = meta.get("year")
    return y if isinstance(y, int) else -1


# ---- SQLite ---------------------------------------------------------------------------------
def sqlite_write(index: Path, n: int, path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
        "CREATE TABLE docs(doc INTEGER PRIMARY KEY, doc_id TEXT UNIQUE, title TEXT, meta TEXT, year INT, retracted INT);"
        "CREATE TABLE chunks(row INTEGER PRIMARY KEY, chunk_id TEXT, doc INT, start INT, end INT, text TEXT);"
        "CREATE TABLE mesh(term TEXT, doc INT);"
    )
    doc_rows: dict[str, int] = {}
    for c, d in rows(index, n):
        if d["doc_id"] not in doc_rows:
            doc_rows[d["doc_id"]] = len(doc_rows)
            db.execute("INSERT INTO docs VALUES (?,?,?,?,?,?)", (len(doc_rows) - 1, d["doc_id"], d["title"],
                       json.dumps(d["meta"]), _year(d["meta"]), int(bool(d["meta"].get("retracted")))))
            db.executemany("INSERT INTO mesh VALUES (?,?)", [(str(m).lower(), len(doc_rows) - 1) for m in d["meta"].get("mesh") or []])
        db.execute("INSERT INTO chunks(chunk_id, doc, start, end, text) VALUES (?,?,?,?,?)",
                   (c["chunk_id"], doc_rows[c["doc_id"]], c["start"], c["end"], c["text"]))
    db.executescript("CREATE UNIQUE INDEX chunk_ids ON chunks(chunk_id); CREATE INDEX chunk_docs ON chunks(doc);"
                     "CREATE INDEX years ON docs(year); CREATE INDEX mesh_terms ON mesh(term);")
    db.commit()
    db.close()


class SqliteReader:
    def __init__(self, path: Path) -> None:
        import sqlite3

        self.db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)

    def hydrate(self, ids: list[str]) -> list[tuple]:
        q = ("SELECT c.chunk_id, c.start, c.end, c.text, d.doc_id, d.title, d.meta FROM chunks c JOIN docs d ON d.doc = c.doc "
             f"WHERE c.chunk_id IN ({','.join('?' * len(ids))})")
        return self.db.execute(q, ids).fetchall()

    def filter(self, lo: int, hi: int, mesh: str | None) -> int:
        q = "SELECT c.chunk_id FROM chunks c JOIN docs d ON d.doc = c.doc WHERE d.year BETWEEN ? AND ?"
        args: list[Any] = [lo, hi]
        if mesh:
            q += " AND c.doc IN (SELECT doc FROM mesh WHERE term = ?)"
            args.append(mesh)
        return len(self.db.execute(q, args).fetchall())


# ---- Arrow IPC, memory-mapped ----------------------------------------------------------------
def arrow_write(index: Path, n: int, path: Path) -> None:
    import pyarrow as pa

    path.mkdir()
    schema = pa.schema([("chunk_id", pa.string()), ("doc_id", pa.string()), ("start", pa.int32()), ("end", pa.int32()),
                        ("text", pa.string()), ("title", pa.string()), ("meta", pa.string()), ("year", pa.int16()),
                        ("mesh", pa.list_(pa.string()))])
    order: list[tuple[str, int]] = []
    with pa.OSFile(str(path / "chunks.arrow"), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
        batch: list[dict[str, Any]] = []
        for c, d in rows(index, n):
            order.append((c["chunk_id"], len(order)))
            batch.append({"chunk_id": c["chunk_id"], "doc_id": c["doc_id"], "start": c["start"], "end": c["end"],
                          "text": c["text"], "title": d["title"], "meta": json.dumps(d["meta"]), "year": _year(d["meta"]),
                          "mesh": [str(m).lower() for m in d["meta"].get("mesh") or []]})
            if len(batch) == 8192:
                w.write_batch(pa.RecordBatch.from_pylist(batch, schema))
                batch = []
        if batch:
            w.write_batch(pa.RecordBatch.from_pylist(batch, schema))
    # the id -> row lookup without a Python dict: ids sorted as fixed-width bytes, binary search
    order.sort()
    width = max(len(i.encode()) for i, _ in order)
    np.save(path / "ids_sorted.npy", np.array([i.encode() for i, _ in order], dtype=f"S{width}"))
    np.save(path / "ids_rows.npy", np.array([r for _, r in order], dtype=np.int64))


class ArrowReader:
    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self.file = pa.ipc.open_file(pa.memory_map(str(path / "chunks.arrow")))
        self.batches = [self.file.get_batch(i) for i in range(self.file.num_record_batches)]  # zero-copy views
        self.starts = np.cumsum([0] + [len(b) for b in self.batches])
        self.table = pa.Table.from_batches(self.batches)
        self.ids = np.load(path / "ids_sorted.npy", mmap_mode="r")
        self.rows = np.load(path / "ids_rows.npy", mmap_mode="r")

    def hydrate(self, ids: list[str]) -> list[dict]:
        keys = np.array([i.encode() for i in ids], dtype=self.ids.dtype)
        pos = np.searchsorted(self.ids, keys)
        out = []
        for p in pos:  # a row is read from its record batch (Table.take on the whole table is ~100x slower)
            row = int(self.rows[p])
            b = int(np.searchsorted(self.starts, row, side="right")) - 1
            out.extend(self.batches[b].slice(row - int(self.starts[b]), 1).to_pylist())
        return out

    def filter(self, lo: int, hi: int, mesh: str | None) -> int:
        import pyarrow.compute as pc

        year = self.table.column("year")
        mask = pc.and_(pc.greater_equal(year, lo), pc.less_equal(year, hi))
        if mesh:
            col = self.table.column("mesh")
            hit = pc.is_in(pc.list_flatten(col), value_set=pa_array([mesh]))
            rows = np.unique(pc.filter(pc.list_parent_indices(col), hit).to_numpy())
            keep = np.zeros(len(self.table), dtype=bool)
            keep[rows] = True
            mask = pc.and_(mask, pa_array(keep))
        return len(self.table.column("chunk_id").filter(mask))


def pa_array(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values)


# ---- LMDB + numpy columns --------------------------------------------------------------------
def lmdb_write(index: Path, n: int, path: Path) -> None:
    import lmdb

    path.mkdir()
    env = lmdb.open(str(path / "db"), map_size=64 << 30, subdir=True, sync=False, writemap=True)
    years: list[int] = []
    mesh_terms: dict[str, list[int]] = {}
    txn = env.begin(write=True)
    for row, (c, d) in enumerate(rows(index, n)):
        value = json.dumps({**c, "title": d["title"], "meta": d["meta"]}).encode()
        txn.put(c["chunk_id"].encode(), value)
        txn.put(b"#%d" % row, c["chunk_id"].encode())
        years.append(_year(d["meta"]))
        for m in d["meta"].get("mesh") or []:
            mesh_terms.setdefault(str(m).lower(), []).append(row)
        if row % 10000 == 9999:
            txn.commit()
            txn = env.begin(write=True)
    txn.commit()
    env.sync()
    env.close()
    np.save(path / "years.npy", np.array(years, dtype=np.int16))
    (path / "mesh.json").write_text(json.dumps(mesh_terms))


class LmdbReader:
    def __init__(self, path: Path) -> None:
        import lmdb

        self.env = lmdb.open(str(path / "db"), readonly=True, lock=False, subdir=True)
        self.years = np.load(path / "years.npy", mmap_mode="r")
        self.mesh_path = path / "mesh.json"

    def hydrate(self, ids: list[str]) -> list[dict]:
        with self.env.begin() as txn:
            return [json.loads(txn.get(i.encode())) for i in ids]

    def filter(self, lo: int, hi: int, mesh: str | None) -> int:
        mask = (self.years >= lo) & (self.years <= hi)
        if mesh:
            rows = json.loads(self.mesh_path.read_text()).get(mesh, [])
            keep = np.zeros(len(mask), dtype=bool)
            keep[rows] = True
            mask &= keep
        rows = np.flatnonzero(mask)
        with self.env.begin() as txn:
            return len([txn.get(b"#%d" % r) for r in rows])


WRITERS = {"sqlite": sqlite_write, "arrow": arrow_write, "lmdb": lmdb_write}
READERS = {"sqlite": SqliteReader, "arrow": ArrowReader, "lmdb": LmdbReader}


def size(path: Path) -> int:
    """Bytes allocated on disk (LMDB's map is a sparse file far larger than what it holds)."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(min(p.stat().st_size, p.stat().st_blocks * 512) for p in files)


def run_one(backend: str, index: Path, n: int, workdir: Path) -> dict[str, Any]:
    """Write then read one store (called in a child process)."""
    path = workdir / f"store-{backend}"
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    t = time.perf_counter()
    WRITERS[backend](index, n, path)
    write_s = time.perf_counter() - t
    all_ids = [c["chunk_id"] for c, _ in rows(index, n)]
    rng = random.Random(0)
    queries = [rng.sample(all_ids, 10) for _ in range(1000)]
    mesh = _common_mesh(index)
    del all_ids
    import gc

    gc.collect()
    before = anon_rss_mb()
    t = time.perf_counter()
    reader = READERS[backend](path)
    open_ms = (time.perf_counter() - t) * 1000
    open_rss = anon_rss_mb() - before
    times = []
    for q in queries:
        t = time.perf_counter()
        got = reader.hydrate(q)
        times.append((time.perf_counter() - t) * 1000)
        assert len(got) == 10, (backend, len(got))
    rss_after = anon_rss_mb() - before
    sel, broad = [], []
    for _ in range(5):
        t = time.perf_counter()
        n_sel = reader.filter(2010, 2020, mesh)
        sel.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        n_broad = reader.filter(2000, 3000, None)
        broad.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "backend": backend, "chunks": n, "write_s": round(write_s, 2), "bytes": size(path),
        "bytes_per_chunk": round(size(path) / n, 1), "open_ms": round(open_ms, 2), "open_rss_mb": round(open_rss, 1),
        "hydrate_ms_p50": round(times[len(times) // 2], 3), "hydrate_ms_p95": round(times[int(len(times) * 0.95)], 3),
        "rss_after_mb": round(rss_after, 1), "filter_selective_ms": round(statistics.median(sel), 2),
        "filter_selective_hits": n_sel, "filter_broad_ms": round(statistics.median(broad), 2), "filter_broad_hits": n_broad,
        "mesh_term": mesh,
    }


def _common_mesh(index: Path) -> str:
    from collections import Counter

    from kbqa.index.store import IndexFolder

    counts: Counter[str] = Counter()
    for d in IndexFolder(index).document_rows():
        counts.update(str(m).lower() for m in d["meta"].get("mesh") or [])
    return counts.most_common(1)[0][0] if counts else ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True, help="a kbqa index folder whose chunks are repeated")
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--workdir", default="/tmp/kbqa-store-bench")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if a.one:
        print(json.dumps(run_one(a.one, Path(a.index), a.n, workdir)))
        return
    results = []
    for backend in a.backends.split(","):
        out = subprocess.run([sys.executable, __file__, "--index", a.index, "--n", str(a.n), "--workdir", str(workdir),
                              "--one", backend], check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
        shutil.rmtree(workdir / f"store-{backend}", ignore_errors=True)
        (workdir / f"store-{backend}").unlink(missing_ok=True)
    doc = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
           "results": results}
    if a.out:
        Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
