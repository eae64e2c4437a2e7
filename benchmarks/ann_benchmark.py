"""Approximate index kinds against exact search at 1M (optionally 5M) 384-d vectors, on one CPU thread.

Vectors. Real MiniLM chunk embeddings of MedQuAD (the committed version of indexes/medquad-dev,
37.5k vectors) are split: 1,000 held out as queries, the rest are the seeds of the base set. The
base set holds every seed plus perturbed copies up to N vectors: copy = seed + SIGMA * s_c * z,
renormalised, where z ~ N(0, I) and s_c is the per-dimension standard deviation of the residuals
of the seed's k-means cluster (256 clusters fitted on the seeds). The copies thus spread like the
real data around each real vector, instead of uniform noise. The set is written once,
memory-mapped, under --workdir (default /tmp/kbqa-ann).

Each kind runs in its own processes, one at a time: a build process (kbqa's FaissIndex: train on
its sample, add, save the version files) and a serving process that loads the saved folder as
`kbqa search` would (vectors.npy memory-mapped) and measures resident memory (anonymous RSS, plus
file-backed RSS from the memory-mapped vectors that refinement touches), single-query QPS,
batch QPS (all queries in one call) and recall@10 against exact search, for a few query settings.

    OMP_NUM_THREADS=1 python benchmarks/ann_benchmark.py [--n 1000000] [--kinds flat,ivf-pq,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIGMA = 0.75
N_CLUSTERS = 256
N_QUERIES = 1000
DEFAULT_KINDS = "flat,ivf-pq,ivf-flat,ivf-sq8,sq8,hnsw"
KNOWN_KINDS = ["flat", "ivf-flat", "ivf-sq8", "ivf-pq", "ivf-pq-fine", "opq-ivf-pq", "sq8", "hnsw"]
# query settings tried per kind (the preset's own default first)
SWEEP = {
    "ivf-pq": [{}, {"nprobe": 64, "refine": 16}, {"nprobe": 256, "refine": 32}, {"nprobe": 128, "refine": 100},
               {"nprobe": 256, "refine": 100}, {"nprobe": 512, "refine": 100}],
    "opq-ivf-pq": [{}, {"nprobe": 512, "refine": 32}],
    # 96 one-byte codes per vector (4 dimensions each): better candidates, fewer to re-score
    "ivf-pq-fine": [{"nprobe": 128, "refine": 16}, {"nprobe": 256, "refine": 16}, {"nprobe": 256, "refine": 32},
                       {"nprobe": 256, "refine": 50}],
    "ivf-flat": [{}, {"nprobe": 128}, {"nprobe": 256}, {"nprobe": 512}, {"nprobe": 1024}],
    "ivf-sq8": [{}, {"nprobe": 256}, {"nprobe": 1024}],
    "sq8": [{}, {"refine": 1}],
    "hnsw": [{}, {"ef_search": 256}, {"ef_search": 512}],
}


def real_vectors() -> np.ndarray:
    from kbqa.index.store import IndexFolder

    return IndexFolder(ROOT / "indexes" / "medquad-dev").vectors()[1]


def make_data(n: int, workdir: Path) -> tuple[np.memmap, np.ndarray, np.ndarray]:
    """(base vectors memory-mapped, queries, exact top-10 row ids); cached in ``workdir``."""
    import faiss

    workdir.mkdir(parents=True, exist_ok=True)
    path, qpath, gpath = workdir / f"base_{n}.f32", workdir / "queries.npy", workdir / f"gt_{n}.npy"
    real = real_vectors().astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(real))
    queries, seeds = real[order[:N_QUERIES]], real[order[N_QUERIES:]]
    np.save(qpath, queries)
    if not path.exists():
        km = faiss.Kmeans(seeds.shape[1], N_CLUSTERS, niter=20, seed=1, spherical=True)
        km.train(seeds)
        _, assign = km.index.search(seeds, 1)
        assign = assign[:, 0]
        std = np.zeros((N_CLUSTERS, seeds.shape[1]), dtype=np.float32)
        for c in range(N_CLUSTERS):
            members = seeds[assign == c]
            if len(members) > 1:
                std[c] = members.std(axis=0)
        tmp = path.with_suffix(".tmp")
        out = np.memmap(tmp, dtype=np.float32, mode="w+", shape=(n, seeds.shape[1]))
        out[: len(seeds)] = seeds
        for start in range(len(seeds), n, 100_000):
            stop = min(n, start + 100_000)
            pick = rng.integers(0, len(seeds), stop - start)
            v = seeds[pick] + SIGMA * std[assign[pick]] * rng.standard_normal((stop - start, seeds.shape[1]), dtype=np.float32)
            out[start:stop] = v / np.linalg.norm(v, axis=1, keepdims=True)
        out.flush()
        del out
        tmp.rename(path)
    base = np.memmap(path, dtype=np.float32, mode="r").reshape(n, -1)
    if not gpath.exists():  # exact top-10, block by block (never the whole set in RAM)
        best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(queries), 0), dtype=np.int64)
        for start in range(0, n, 200_000):
            block = faiss.IndexFlatIP(base.shape[1])
            block.add(np.ascontiguousarray(base[start:start + 200_000]))
            s, i = block.search(queries, 10)
            best_s, best_i = np.hstack([best_s, s]), np.hstack([best_i, i + start])
            top = np.argsort(-best_s, axis=1, kind="stable")[:, :10]
            best_s, best_i = np.take_along_axis(best_s, top, 1), np.take_along_axis(best_i, top, 1)
        np.save(gpath, best_i)
    return base, queries, np.load(gpath)


def rss() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS"):
            out[key] = int(value.split()[0]) * 1024
    return out


def build(kind: str, n: int, workdir: Path) -> None:
    """Child process: build the kind through kbqa and save the index files into workdir/kind-n."""
    import faiss

    from kbqa.config import IndexConfig
    from kbqa.index.faiss_backend import FaissIndex

    faiss.omp_set_num_threads(1)
    base, _, _ = make_data(n, workdir)
    folder = workdir / f"{kind}-{n}"
    folder.mkdir(exist_ok=True)
    started = time.perf_counter()
    index = FaissIndex.create(base.shape[1], IndexConfig(factory=kind, use_gpu="never"))
    ids = [str(i) for i in range(n)]
    if n > 2_000_000 and not index.flat:
        # past 2M, hand the memory-mapped vectors over instead of copying them in blocks (RAM of this machine)
        index.ids.extend(ids)
        index._stored = [base]
    else:
        for start in range(0, n, 100_000):
            index.add(ids[start:start + 100_000], np.asarray(base[start:start + 100_000]))
    index.ready()  # train + add
    built = time.perf_counter() - started
    index.save(folder)
    (folder / "bench.json").write_text(json.dumps({"build_s": built, "describe": index.describe()}))


def serve(kind: str, n: int, workdir: Path) -> None:
    """Child process: load as a server would, measure memory, QPS and recall for each setting."""
    import faiss

    from kbqa.config import IndexConfig
    from kbqa.index.faiss_backend import FaissIndex

    faiss.omp_set_num_threads(1)
    queries = np.load(workdir / "queries.npy")
    gt = np.load(workdir / f"gt_{n}.npy")
    folder = workdir / f"{kind}-{n}"
    info = json.loads((folder / "bench.json").read_text())
    import kbqa.index.faiss_backend as backend

    class _Ids:  # ids are the row numbers here: leave the n-string id table out of the memory figures
        @staticmethod
        def load(path: Path) -> _IntIds:
            return _IntIds(n)

    backend.IdTable = _Ids
    before = rss()
    index = FaissIndex.load(folder, IndexConfig(factory=kind, use_gpu="never"), queries.shape[1])
    loaded = rss()
    for over in SWEEP.get(kind, [{}]):
        index.cfg = IndexConfig(factory=kind, use_gpu="never", **over)
        n_single = 50 if kind in ("flat", "sq8") else 300
        index.search(queries[:5], 10)
        t = time.perf_counter()
        for q in queries[:n_single]:
            index.search(q[None], 10)
        single = n_single / (time.perf_counter() - t)
        t = time.perf_counter()
        res = index.search(queries, 10)
        batch = len(queries) / (time.perf_counter() - t)
        recall = float(np.mean([len({int(i) for i, _ in r} & set(g.tolist())) / 10 for r, g in zip(res, gt)]))
        after = rss()
        print(json.dumps({
            "kind": kind, "n": n, "settings": index.query_params(), "build_s": round(info["build_s"], 1),
            "factory": info["describe"].get("resolved_factory", "Flat"),
            "index_file_bytes": (folder / "faiss.index").stat().st_size,
            "rss_anon_bytes": after["RssAnon"] - before["RssAnon"],
            "rss_file_bytes": after["RssFile"] - before["RssFile"],
            "load_anon_bytes": loaded["RssAnon"] - before["RssAnon"],
            "qps_single": round(single, 1), "qps_batch": round(batch, 1), "recall_at_10": round(recall, 4),
        }), flush=True)


class _IntIds:
    """Stands in for IdTable when ids are the row numbers 0..n-1."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, row: int) -> str:
        return str(row)

    def rows_of(self, ids):  # pragma: no cover - filters are not benchmarked
        return sorted(int(i) for i in ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--kinds", default=DEFAULT_KINDS)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/kbqa-ann"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ann_benchmark.txt")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite --out from the measurements already in --workdir")
    ap.add_argument("--child", choices=["build", "serve"])
    ap.add_argument("--kind")
    args = ap.parse_args()
    if args.child == "build":
        return build(args.kind, args.n, args.workdir)
    if args.child == "serve":
        return serve(args.kind, args.n, args.workdir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    t = time.perf_counter()
    make_data(args.n, args.workdir)
    header = [
        f"machine: {platform.machine()} {os.cpu_count()} CPUs (shared, loaded by other jobs); 1 thread "
        "(OMP_NUM_THREADS=1, faiss.omp_set_num_threads(1))",
        f"data: {args.n} x 384 float32; real MiniLM MedQuAD chunk vectors + perturbed copies "
        f"(sigma {SIGMA} x cluster residual std, {N_CLUSTERS} clusters); {N_QUERIES} held-out real chunk vectors as queries; "
        f"data + exact ground truth in {time.perf_counter() - t:.0f} s",
        "memory: anon = anonymous resident memory of the serving process after loading + searching (the vector index "
        "only: ids are row numbers here, kbqa's id table and chunk texts come on top, see docs/scaling.md); "
        "mmap = resident pages of the memory-mapped vectors.npy that re-scoring reads (page cache: shared, evictable); "
        "file = size of faiss.index",
        f"command: OMP_NUM_THREADS=1 python benchmarks/ann_benchmark.py --n {args.n} --kinds KIND[,KIND...] "
        "(each kind builds and serves in its own processes; the rows below are each kind's latest run in the workdir)",
        "columns: setting [nprobe/ef_search/refine], build time (train + add), memory per vector, QPS single query "
        "(300 queries, 50 for flat/sq8) and batch (1000 queries in one call), recall@10 against exact search",
    ]
    if args.report_only:
        return _report(args, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = list(header)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(header), flush=True)
    flat_row = None
    for kind in args.kinds.split(","):
        folder = args.workdir / f"{kind}-{args.n}"
        if not (folder / "bench.json").exists():
            subprocess.run([sys.executable, __file__, "--child", "build", "--kind", kind, "--n", str(args.n),
                            "--workdir", str(args.workdir)], check=True, env=env)
        out = subprocess.run([sys.executable, __file__, "--child", "serve", "--kind", kind, "--n", str(args.n),
                              "--workdir", str(args.workdir)], check=True, env=env, capture_output=True, text=True)
        (folder / "serve.jsonl").write_text(out.stdout)
        for raw in out.stdout.splitlines():
            print(_format(json.loads(raw), flat_row), flush=True)
        flat_row = _report(args, lines) or flat_row


def _report(args: argparse.Namespace, header: list[str]) -> dict | None:
    """Write every kind measured so far in the workdir (a kind re-run alone replaces its own rows)."""
    rows = [json.loads(r) for k in KNOWN_KINDS
            if (args.workdir / f"{k}-{args.n}" / "serve.jsonl").exists()
            for r in (args.workdir / f"{k}-{args.n}" / "serve.jsonl").read_text().splitlines()]
    flat_row = next((r for r in rows if r["kind"] == "flat"), None)
    args.out.write_text("\n".join(header + [_format(r, flat_row) for r in rows]) + "\n")
    return flat_row


def _format(row: dict, flat: dict | None) -> str:
    per_vec = row["rss_anon_bytes"] / row["n"]
    rel = ""
    if flat:
        rel = (f"  vs flat: {row['qps_single'] / flat['qps_single']:.1f}x single QPS, "
               f"{row['qps_batch'] / flat['qps_batch']:.1f}x batch QPS, "
               f"{row['rss_anon_bytes'] / max(flat['rss_anon_bytes'], 1):.3f}x memory")
    s = row["settings"]
    setting = ",".join(f"{k}={v}" for k, v in s.items() if v)
    return (
        f"{row['kind']:<10} {row['factory']:<16} [{setting}] build {row['build_s']:>7.1f} s  "
        f"mem {per_vec:6.1f} B/vec (anon {row['rss_anon_bytes'] / 2**20:7.1f} MiB, mmap {row['rss_file_bytes'] / 2**20:6.1f} MiB, "
        f"file {row['index_file_bytes'] / 2**20:7.1f} MiB)  QPS single {row['qps_single']:8.1f} batch {row['qps_batch']:8.1f}  "
        f"recall@10 {row['recall_at_10']:.4f}{rel}"
    )


if __name__ == "__main__":
    main()
