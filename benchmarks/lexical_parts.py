"""BM25 at scale: bm25s in one piece vs in parts (``index.lexical_part_rows``), issue #22 part 3.

    OMP_NUM_THREADS=1 python benchmarks/lexical_parts.py --index IDX --n 600000 --part-rows 0,250000,100000 \
        --out benchmarks/results/lexical_parts.json

The texts are the chunk texts of a real index (``--index``, as kbqa indexes them: ``embed_text``),
repeated with changed ids up to ``--n``; 0 in ``--part-rows`` means one piece. Each setting runs in
its own process: the time and peak anonymous RSS of writing the lexical side
(``kbqa.lexical.write_lexical``, what a build runs once the chunks are stored), its bytes, the RSS
it adds when loaded for search, and the p50/p95 latency of one query's top-10 (300 queries: the
first 12 words of random chunks, as benchmarks/scale_benchmark.py). The top-10 of every setting is
compared with the first setting's: the same ids and scores within 1e-4 (they are the same BM25).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Peak:
    def __enter__(self) -> Peak:
        self.peak, self._stop = anon_mb(), threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, anon_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def source_texts(index: str) -> list[str]:
    from kbqa.chunk import embed_text
    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(index)
    return [embed_text(c, kb.config.chunk) for c in kb.iter_chunks()]


def rows(texts: list[str], n: int):
    for i in range(n):
        yield f"c{i % len(texts)}~r{i // len(texts)}", texts[i % len(texts)]


def queries(texts: list[str], count: int = 300) -> list[str]:
    rng = np.random.default_rng(7)
    return [" ".join(texts[i].split()[:12]) for i in rng.choice(len(texts), size=count)]


def run_one(args: argparse.Namespace, part_rows: int) -> dict:
    from kbqa.index.segment_lexical import load_lexical
    from kbqa.lexical import write_lexical

    texts = source_texts(args.index)
    qs = queries(texts)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        d = Path(tmp) / "lexical"
        base = anon_mb()
        t = time.perf_counter()
        with Peak() as peak:
            parts = write_lexical(d, rows(texts, args.n), part_rows=part_rows or args.n)
        write_s = time.perf_counter() - t
        size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
        import gc

        gc.collect()
        before = anon_mb()
        t = time.perf_counter()
        side = load_lexical(d)
        load_s = time.perf_counter() - t
        loaded = anon_mb()
        times, top = [], []
        for q in qs:
            t = time.perf_counter()
            hits = side.search_many([q], k=10)[0]
            times.append((time.perf_counter() - t) * 1000)
            top.append(hits)
        times.sort()
        return {
            "n": args.n, "part_rows": part_rows or None, "parts": parts, "write_s": round(write_s, 1),
            "write_peak_anon_mb_above_start": round(peak.peak - base, 1), "bytes": size,
            "load_s": round(load_s, 2), "load_anon_mb": round(loaded - before, 1),
            "query_p50_ms": round(times[len(times) // 2], 2), "query_p95_ms": round(times[int(len(times) * 0.95)], 2),
            "after_queries_anon_mb": round(anon_mb() - before, 1), "top10": top,
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", required=True, help="a kbqa index whose chunk texts are repeated")
    p.add_argument("--n", type=int, required=True, help="texts to index")
    p.add_argument("--part-rows", default="0,250000", help="comma-separated; 0 = one piece")
    p.add_argument("--out", required=True)
    p.add_argument("--tmp", default=None, help="scratch folder (default: the system's)")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args, args.one)))
        return
    results = []
    for pr in (int(x) for x in args.part_rows.split(",")):
        cmd = [sys.executable, __file__, "--index", args.index, "--n", str(args.n), "--out", args.out, "--one", str(pr)]
        if args.tmp:
            cmd += ["--tmp", args.tmp]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(json.dumps({k: v for k, v in r.items() if k != "top10"}), flush=True)
        results.append(r)
    ref = results[0]["top10"]
    for r in results:
        top = r.pop("top10")
        same = sum([i for i, _ in a] == [i for i, _ in b] for a, b in zip(top, ref, strict=True))
        diff = max((abs(x - y) for a, b in zip(top, ref, strict=True) for (_, x), (_, y) in zip(a, b)), default=0.0)
        r["top10_same_ids_as_first"] = same / len(ref)
        r["max_score_diff_vs_first"] = float(f"{diff:.2e}")
    doc = {"command": " ".join(["python", "benchmarks/lexical_parts.py", *sys.argv[1:]]),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other jobs)", "results": results}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
