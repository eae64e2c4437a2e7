"""One-level vs two-level IVF training (kbqa/index/two_level.py): recall@10, training time and memory.

The vectors are the scale benchmark's: the source index's real vectors perturbed within their cluster's
spread (``benchmarks/scale_benchmark.py``'s ``ReplayEncoder``), ``--vectors`` of them, written once to a
memory-mapped file under ``--out`` as a build's spill is. The queries are the scale benchmark's 1,000 (the
first 12 words of sampled chunks, encoded by the source index's embedder). Each method builds the same
kind (``--factory``, default ivf-pq-fine) through ``TrainedFaissIndex.adopt`` as ``kbqa index build`` does
(lists spilled to disk), in its own process: ``index.train_memory_mb = 0`` (one level, the whole sample in
memory) and a budget below the sample (two levels). Reported per method: training seconds, peak anonymous
RSS while training, the build's whole time, and recall@10 against exact search over the same vectors.

    KBQA_HOME=. OMP_NUM_THREADS=1 python benchmarks/ivf_two_level.py --source-index IDX --vectors 3000000 \\
        --out DIR [--factory ivf-pq-fine] [--budget-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_anon_gb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def make_vectors(args: argparse.Namespace, out: Path) -> Path:
    """``--vectors`` perturbed real vectors, cycling over the source's, in ``out/vectors.f32`` (once)."""
    from scale_benchmark import SIGMA, Source

    path = out / f"vectors-{args.vectors}.f32"
    if path.exists():
        return path
    src = Source(Path(args.source_index))
    d = src.vectors.shape[1]
    rng = np.random.default_rng(11)
    part = path.with_suffix(".part")
    mm = np.memmap(part, dtype=np.float32, mode="w+", shape=(args.vectors, d))
    for start in range(0, args.vectors, 100_000):
        rows = np.arange(start, min(start + 100_000, args.vectors)) % len(src.vectors)
        v = src.vectors[rows] + SIGMA * src.std[src.assign[rows]] * rng.standard_normal((len(rows), d), dtype=np.float32)
        mm[start:start + len(rows)] = v / np.linalg.norm(v, axis=1, keepdims=True)
    mm.flush()
    del mm
    part.rename(path)
    return path


def query_vectors(args: argparse.Namespace, out: Path) -> np.ndarray:
    from scale_benchmark import Source, _encoder, queries

    path = out / "queries.npy"
    if not path.exists():
        src = Source(Path(args.source_index))
        np.save(path, _encoder(src).encode_queries(queries(src)))
    return np.load(path)


def truth(vectors: np.ndarray, qv: np.ndarray, out: Path) -> np.ndarray:
    import faiss

    path = out / f"truth-{len(vectors)}.npy"
    if not path.exists():
        exact = faiss.IndexFlatIP(vectors.shape[1])
        for start in range(0, len(vectors), 200_000):
            exact.add(np.ascontiguousarray(vectors[start:start + 200_000]))
        np.save(path, exact.search(qv, 10)[1])
    return np.load(path)


def run_method(args: argparse.Namespace) -> dict:
    """One build of the kind with one method (in this process), as a build adopts its spilled vectors."""
    from kbqa.config import IndexConfig
    from kbqa.index.factory import create_index

    out = Path(args.out)
    path = make_vectors(args, out)
    qv = np.load(out / "queries.npy")
    d = qv.shape[1]
    vectors = np.memmap(path, dtype=np.float32, mode="r").reshape(-1, d)
    budget = 0 if args.method == "one" else args.budget_mb
    cfg = IndexConfig(factory=args.factory, use_gpu="never", train_memory_mb=budget)
    index = create_index(cfg, d)
    peak = [rss_anon_gb(), rss_anon_gb()]  # whole run, training only
    phase = {"training": False}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            r = rss_anon_gb()
            peak[0] = max(peak[0], r)
            if phase["training"]:
                peak[1] = max(peak[1], r)
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()
    base = peak[0]
    spill = out / f"spill-{args.method}"
    spill.mkdir(exist_ok=True)
    marks: dict[str, float] = {}
    real_add = index._add_stored

    def add_stored() -> None:  # training is over once the vectors start going into the lists
        phase["training"] = False
        marks["add"] = time.perf_counter()
        real_add()

    index._add_stored = add_stored
    index.adopt([f"v{i}" for i in range(len(vectors))], vectors, spill_dir=spill)
    phase["training"] = True
    t0 = time.perf_counter()
    index.ready()  # trains, then adds every vector to the spilled lists
    (out / f"index-{args.method}").mkdir(exist_ok=True)
    index.save(out / f"index-{args.method}")  # the lists written from the spill, as a build does
    build_s = time.perf_counter() - t0
    stop.set()
    found = index.search(qv, 10)
    gt = np.load(out / f"truth-{len(vectors)}.npy")
    rec = float(np.mean([len({int(c[1:]) for c, _ in row} & set(map(int, t))) / 10 for row, t in zip(found, gt)]))
    return {"method": args.method, "train_memory_mb": budget, "state": index.state.to_json(),
            "recall_at_10": round(rec, 4), "train_s": round(marks["add"] - t0, 1), "train_add_save_s": round(build_s, 1),
            "peak_anon_gb": round(peak[0], 3), "peak_anon_training_gb": round(peak[1], 3),
            "base_anon_gb": round(base, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source-index", required=True)
    ap.add_argument("--vectors", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--factory", default="ivf-pq-fine")
    ap.add_argument("--budget-mb", type=float, default=256, help="two-level's index.train_memory_mb (below the sample)")
    ap.add_argument("--method", choices=["one", "two"], help=argparse.SUPPRESS)  # a child process
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.method:
        print(json.dumps(run_method(args)))
        return
    path = make_vectors(args, out)
    qv = query_vectors(args, out)
    truth(np.memmap(path, dtype=np.float32, mode="r").reshape(-1, qv.shape[1]), qv, out)
    results = {}
    for method in ("two", "one"):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--method", method]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        results[method] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(results[method]), flush=True)
    report = {"vectors": args.vectors, "factory": args.factory, "results": results,
              "recall_difference_two_minus_one": round(results["two"]["recall_at_10"] - results["one"]["recall_at_10"], 4),
              "command": "python benchmarks/ivf_two_level.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"}
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "results"}))


if __name__ == "__main__":
    main()
