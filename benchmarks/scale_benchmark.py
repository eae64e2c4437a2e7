"""PubMed-scale knowledge base benchmark (issue #22): build, serve, update, recall at N chunks.

    KBQA_HOME=. OMP_NUM_THREADS=1 python benchmarks/scale_benchmark.py --chunks 200000 --out /tmp/scale-bench \
        [--source-index indexes/medquad-dev] [--new 30000 --changed 5000 --deleted 1000]

writes ``OUT/results.json`` with ``chunks``, ``build_s``, ``build_peak_rss_gb``, ``serve_rss_gb``,
``search_p50_ms``, ``search_p95_ms``, ``update_s``, ``update_bytes_written``, ``index_bytes``,
``compact_s``, ``recall_at_10`` and ``recall_at_10_one_piece`` (plus the settings and sub-figures).

The corpus. The documents and chunks of a real committed index (``--source-index``) are repeated
with changed ids (``ID~rN``) up to N chunks; each document is re-chunked by kbqa's chunker from its
text (rebuilt from its chunks' offsets). Embedding is replaced by the ANN benchmark's vectors: a
chunk gets its source chunk's real vector plus 0.75 x its k-means cluster's residual standard
deviation x Gaussian noise, renormalised (copy 0 keeps the real vector), so no CPU time goes to the
embedder. Queries are 1,000 real texts (the first words of held-out source chunks) embedded by the
real model; search runs in hybrid mode with a year filter on half of them.

Stages, each in its own process (peak RSS per process): ``build`` (kbqa.index.build.build_version,
index kind ivf-pq-fine), ``serve`` (KnowledgeBase.load, RSS after loading and after the queries,
latency per query including query embedding), ``update`` (update_index with ``--new`` new,
``--changed`` changed and ``--deleted`` deleted documents: it writes one segment and deletion bitmaps,
kbqa/index/segments.py; its time and the bytes it wrote, i.e. the sizes of the files whose inodes did
not exist before it: segments hard-linked from the base version cost nothing), ``recall`` (dense
top-10 of the updated, segmented index, and of the same kind built in one piece from the final
vectors, against exact search over them) and ``compact`` (``kbqa index compact``: its time and bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIGMA = 0.75
N_CLUSTERS = 64
N_QUERIES = 1000


def rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def rss_split_gb() -> dict[str, float]:
    """Resident memory by kind: anonymous (heap: what serving really holds) and file-backed (pages of
    memory-mapped index files, reclaimable page cache shared with the OS)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("RssAnon", "RssFile", "RssShmem"):
            out[key] = round(int(line.split()[1]) / 1024**2, 3)
    return out


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class AnonPeak:
    """Peak anonymous RSS of this process, sampled every 0.1 s in a thread (ru_maxrss also counts
    the file-backed pages of memory-mapped files, which are page cache, reclaimable)."""

    def __enter__(self) -> AnonPeak:
        import threading

        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak = max(self.peak, int(line.split()[1]) / 1024**2)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ---- the corpus -------------------------------------------------------------------------------
class Source:
    """The source index's documents (text rebuilt from chunk offsets), chunk texts and vectors."""

    def __init__(self, index: Path) -> None:
        from kbqa.index.store import IndexFolder

        folder = IndexFolder(index)
        self.manifest = folder.manifest()
        ids, vectors = folder.vectors()
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.row_of_text: dict[str, int] = {}
        pieces: dict[str, list[tuple[int, int, str]]] = {}
        for row, c in enumerate(folder.chunk_rows()):
            self.row_of_text.setdefault(c["text"], row)
            pieces.setdefault(c["doc_id"], []).append((c["start"], c["end"], c["text"]))
        self.docs = []
        for d in folder.document_rows():
            parts = sorted(pieces.get(d["doc_id"], []))
            if not parts:
                continue
            chars = [" "] * max(e for _, e, _ in parts)
            for s, e, t in parts:
                chars[s:e] = t
            self.docs.append((d["doc_id"], d["title"], "".join(chars), d["meta"], len(parts)))
        self.chunk_texts = [t for t, _ in sorted(self.row_of_text.items(), key=lambda kv: kv[1])]
        # per-cluster residual spread of the real vectors (as benchmarks/ann_benchmark.py)
        import faiss

        km = faiss.Kmeans(self.vectors.shape[1], min(N_CLUSTERS, len(self.vectors) // 40), niter=20, seed=1, spherical=True)
        km.train(self.vectors)
        _, assign = km.index.search(self.vectors, 1)
        self.assign = assign[:, 0]
        self.std = np.zeros((km.k, self.vectors.shape[1]), dtype=np.float32)
        for c in range(km.k):
            members = self.vectors[self.assign == c]
            if len(members) > 1:
                self.std[c] = members.std(axis=0)

    def documents(self, n_chunks: int, reps: range | None = None) -> Iterator[tuple[str, Any]]:
        """(source, Document) pairs: the source documents repeated with ids ``ID~rN`` until about
        ``n_chunks`` chunks (by the source's chunk counts)."""
        from kbqa.types import Document

        made, rep = 0, 0
        while made < n_chunks:
            for doc_id, title, text, meta, k in self.docs:
                if made >= n_chunks:
                    return
                yield "scale", Document(f"{doc_id}~r{rep}" if rep else doc_id, text, title, meta)
                made += k
            rep += 1


class ReplayEncoder:
    """The real encoder for everything but passages, which get perturbed real vectors."""

    def __init__(self, encoder: Any, source: Source, seed: int) -> None:
        self._encoder = encoder
        self.source = source
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        from kbqa.chunk import embed_text  # noqa: F401 - the texts are embed_text(chunk)

        src = self.source
        rows = np.array([src.row_of_text.get(_body(t), hash(t) % len(src.vectors)) for t in texts])
        noise = self.rng.standard_normal((len(texts), src.vectors.shape[1]), dtype=np.float32)
        v = src.vectors[rows] + SIGMA * src.std[src.assign[rows]] * noise
        self.calls += 1
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _body(text: str) -> str:
    """The chunk text inside embed_text's "title\\n\\ntext"."""
    return text.split("\n\n", 1)[1] if "\n\n" in text else text


def _encoder(source: Source) -> Any:
    from kbqa.config import from_dict
    from kbqa.embed import load_encoder

    return load_encoder(from_dict(source.manifest["config"], source="source manifest").embed)


def _config(source: Source, args: argparse.Namespace) -> Any:
    from kbqa.config import from_dict

    cfg = from_dict(source.manifest["config"], source="source manifest")
    return cfg.replace(index={"factory": "ivf-pq-fine", "use_gpu": "never"})


# ---- stages (each runs in its own process) -------------------------------------------------------
def stage_build(args: argparse.Namespace, index: Path, corpus_chunks: int, seed: int, docs: Iterator | None = None) -> dict:
    from kbqa.index.build import build_version
    from kbqa.index.store import IndexFolder

    source = Source(Path(args.source_index))
    encoder = ReplayEncoder(_encoder(source), source, seed)
    cfg = _config(source, args)
    folder = IndexFolder(index)
    started = time.perf_counter()
    with folder.lock(), AnonPeak() as anon:
        build_version(folder, docs or source.documents(corpus_chunks), encoder=encoder, config=cfg,
                      sources=[{"source": "scale", "path": str(index), "format": "generated"}],
                      counts=lambda: {}, progress=False)
    return {"build_s": round(time.perf_counter() - started, 1), "build_peak_rss_gb": round(peak_rss_gb(), 3),
            "build_peak_anon_gb": round(anon.peak, 3), "index_bytes": dir_bytes(folder.version_dir())}


def queries(source: Source) -> list[str]:
    rng = np.random.default_rng(7)
    pick = rng.choice(len(source.chunk_texts), size=N_QUERIES, replace=len(source.chunk_texts) < N_QUERIES)
    return [" ".join(source.chunk_texts[i].split()[:12]) for i in pick]


def stage_serve(args: argparse.Namespace, index: Path) -> dict:
    import gc

    from kbqa.pipeline import KnowledgeBase

    source = Source(Path(args.source_index))
    encoder = _encoder(source)
    qs = queries(source)
    del source
    gc.collect()
    before = rss_gb()
    kb = KnowledgeBase.load(index, encoder=encoder).with_search(mode="hybrid")
    loaded = rss_gb()
    split_loaded = rss_split_gb()
    times = []
    for i, q in enumerate(qs):
        f = {"year_min": 2000, "year_max": 2015} if i % 2 else None
        t = time.perf_counter()
        kb.search(q, k=10, filters=f)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"serve_rss_gb": round(loaded, 3), "serve_rss_before_load_gb": round(before, 3),
            "serve_rss_split_after_load_gb": split_loaded, "serve_rss_split_after_queries_gb": rss_split_gb(),
            "serve_rss_after_queries_gb": round(rss_gb(), 3), "search_p50_ms": round(times[len(times) // 2], 1),
            "search_p95_ms": round(times[int(len(times) * 0.95)], 1)}


def update_docs(source: Source, args: argparse.Namespace, base_docs: list[tuple[str, Any]]) -> tuple[list, list[str]]:
    """(new and changed documents, ids to delete): new = further repeats, changed = edited text."""
    from kbqa.types import Document

    rng = np.random.default_rng(3)
    n = len(base_docs)
    changed_at = rng.choice(n, size=min(args.changed, n), replace=False)
    deleted_at = rng.choice(np.setdiff1d(np.arange(n), changed_at), size=min(args.deleted, n - len(changed_at)), replace=False)
    out = []
    for i in changed_at:
        d = base_docs[i][1]
        out.append(Document(d.doc_id, d.text + " Revised in this update.", d.title, d.meta))
    rep_base = 10**6
    made = 0
    while made < args.new:
        for doc_id, title, text, meta, _ in source.docs:
            if made >= args.new:
                break
            out.append(Document(f"{doc_id}~u{rep_base + made}", text, title, meta))
            made += 1
    return out, [base_docs[i][1].doc_id for i in deleted_at]


def stage_update(args: argparse.Namespace, index: Path, workdir: Path) -> dict:
    from kbqa.index.store import IndexFolder
    from kbqa.index.update import update_index

    source = Source(Path(args.source_index))
    base_docs = list(source.documents(args.chunks))
    docs, deleted = update_docs(source, args, base_docs)
    path = workdir / "update.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.doc_id, "title": d.title, "text": d.text, **d.meta}, ensure_ascii=False) + "\n")
    encoder = ReplayEncoder(_encoder(source), source, seed=2)
    before = inodes(index)
    started = time.perf_counter()
    report = update_index(index, [path], delete_ids=deleted, encoder=encoder, format="jsonl", keep=1)
    took = time.perf_counter() - started
    manifest = IndexFolder(index).manifest()
    parts = new_files(index, before)
    by_part = {"segment_faiss_index": sum(n for p, n in parts.items() if p.parts[-1] == "faiss.index"),
               "segment_other": sum(n for p, n in parts.items() if "segments" in p.parts and p.parts[-1] != "faiss.index"),
               "version_manifest": sum(n for p, n in parts.items() if p.parts[-1] == "manifest.json"),
               "version_bitmaps": sum(n for p, n in parts.items() if p.parts[-1].startswith("deleted-"))}
    return {"update_s": round(took, 1), "update_bytes_written": sum(parts.values()), "update_bytes_by_part": by_part,
            "update_peak_rss_gb": round(peak_rss_gb(), 3), "update_added": len(report.added),
            "update_changed": len(report.changed), "update_removed": len(report.removed),
            "update_chunks_embedded": report.chunks_embedded, "update_segments": len(manifest.get("segments") or [1]),
            "update_manifest_bytes": by_part["version_manifest"],
            "index_bytes_after_update": live_bytes(index)}


def stage_compact(args: argparse.Namespace, index: Path) -> dict:
    from kbqa.index.compact import compact_index

    before = inodes(index)
    started = time.perf_counter()
    report = compact_index(index, keep=1)
    return {"compact_s": round(time.perf_counter() - started, 1), "compact_bytes_written": new_bytes(index, before),
            "compact_peak_rss_gb": round(peak_rss_gb(), 3), "compact_segments": report.segments,
            "compact_dropped_rows": report.dropped}


def inodes(path: Path) -> set[tuple[int, int]]:
    return {(p.stat().st_dev, p.stat().st_ino) for p in path.rglob("*") if p.is_file()}


def new_files(path: Path, before: set[tuple[int, int]]) -> dict[Path, int]:
    """Sizes of the files under ``path`` that are not (hard links to) files that existed ``before``."""
    seen, out = set(), {}
    for p in path.rglob("*"):
        if p.is_file():
            st = p.stat()
            key = (st.st_dev, st.st_ino)
            if key not in before and key not in seen:
                seen.add(key)
                out[p.relative_to(path)] = st.st_size
    return out


def new_bytes(path: Path, before: set[tuple[int, int]]) -> int:
    return sum(new_files(path, before).values())


def live_bytes(path: Path) -> int:
    """Bytes of the current version as served: its folder and the segments it lists (each inode once)."""
    from kbqa.index.segments import segment_dir
    from kbqa.index.store import IndexFolder

    folder = IndexFolder(path)
    dirs = [folder.version_dir()] + [segment_dir(path, e["name"]) for e in folder.manifest().get("segments") or []]
    seen, total = set(), 0
    for d in dirs:
        for p in d.rglob("*"):
            if p.is_file() and (key := (p.stat().st_dev, p.stat().st_ino)) not in seen:
                seen.add(key)
                total += p.stat().st_size
    return total


def stage_recall(args: argparse.Namespace, updated: Path) -> dict:
    """Dense recall@10 against exact search over the final vectors: of the updated index (segments
    sharing the base corpus's training) and of the same kind built in one piece from them."""
    import faiss

    from kbqa.index.factory import create_index
    from kbqa.index.store import IndexFolder
    from kbqa.pipeline import KnowledgeBase

    source = Source(Path(args.source_index))
    encoder = _encoder(source)
    qv = encoder.encode_queries(queries(source))
    ids, vectors = IndexFolder(updated).vectors()
    exact = faiss.IndexFlatIP(vectors.shape[1])
    for start in range(0, len(ids), 200_000):
        exact.add(np.ascontiguousarray(vectors[start:start + 200_000]))
    _, truth = exact.search(qv, 10)
    truth_ids = [{ids[i] for i in row} for row in truth]
    kb = KnowledgeBase.load(updated, encoder=encoder)
    one_piece = create_index(kb.config.index, vectors.shape[1])
    for start in range(0, len(ids), 100_000):
        one_piece.add(ids[start:start + 100_000], np.asarray(vectors[start:start + 100_000]))
    out = {}
    for key, index in (("recall_at_10", kb.index), ("recall_at_10_one_piece", one_piece)):
        hits = [[cid for cid, _ in row] for row in index.search(qv, 10)]
        out[key] = round(float(np.mean([len(set(h) & t) / 10 for h, t in zip(hits, truth_ids)])), 4)
    return out


# ---- driver -------------------------------------------------------------------------------------
def child(stage: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, "--chunks", str(args.chunks), "--out", args.out,
           "--source-index", args.source_index, "--new", str(args.new), "--changed", str(args.changed),
           "--deleted", str(args.deleted)]
    print(f"[scale] {stage} ...", flush=True)
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[scale] {stage}: {result}", flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--source-index", default=str(ROOT / "indexes" / "medquad-dev"))
    p.add_argument("--new", type=int, default=30_000, help="new documents in the update")
    p.add_argument("--changed", type=int, default=5_000, help="changed documents in the update")
    p.add_argument("--deleted", type=int, default=1_000, help="deleted documents in the update")
    p.add_argument("--stage", help=argparse.SUPPRESS)
    args = p.parse_args()
    out = Path(args.out)
    base = out / "index"
    if args.stage:
        import faiss

        faiss.omp_set_num_threads(1)
        result = {
            "build": lambda: stage_build(args, base, args.chunks, seed=1),
            "serve": lambda: stage_serve(args, base),
            "update": lambda: stage_update(args, base, out),
            "recall": lambda: stage_recall(args, base),
            "compact": lambda: stage_compact(args, base),
        }[args.stage]()
        print(json.dumps(result))
        return
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(base, ignore_errors=True)
    results: dict[str, Any] = {"chunks": args.chunks}
    for stage in ("build", "serve", "update", "recall", "compact"):
        results.update(child(stage, args))
    results["compact_fraction_of_build"] = round(results["compact_s"] / results["build_s"], 4)
    results["update_fraction_of_build"] = round(results["update_s"] / results["build_s"], 4)
    results["update_bytes_fraction"] = round(results["update_bytes_written"] / results["index_bytes"], 4)
    results["settings"] = {"index": "ivf-pq-fine", "new": args.new, "changed": args.changed, "deleted": args.deleted,
                           "source_index": args.source_index, "queries": N_QUERIES, "mode": "hybrid",
                           "filters": "year 2000-2015 on every other query"}
    results["command"] = " ".join(["python", "benchmarks/scale_benchmark.py", *sys.argv[1:]])
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs)"
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
