"""GPU figures: MiniLM passages embedded per second on CUDA, and FAISS IVF on the GPU (build, QPS, recall@10).

Where neither torch nor FAISS sees a GPU it prints "skipped: no GPU" and exits 0, so it can run
anywhere (CI stays CPU-only). On a GPU machine (faiss-gpu-cu12 + a CUDA torch):

    python benchmarks/gpu_benchmark.py [--n 1000000] [--passages 20000] [--out benchmarks/results/gpu_benchmark.txt]

Embedding: the first --passages chunk texts of indexes/medquad-dev (real MedQuAD answers), through
kbqa's encoder (sentence-transformers) on CUDA, fp32 and bf16, batch 256, after one warm-up batch.
Indexes: the vectors of benchmarks/ann_benchmark.py (real MiniLM vectors + perturbed copies), built
through kbqa's FaissIndex with ``use_gpu='always'`` (train, add and search on all GPUs, replicated),
recall@10 against exact search over the same vectors on the GPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def gpus() -> tuple[int, bool]:
    try:
        import faiss

        n_faiss = int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0
    except ImportError:
        n_faiss = 0
    try:
        import torch

        cuda = bool(torch.cuda.is_available())
    except ImportError:
        cuda = False
    return n_faiss, cuda


def embed_figures(n: int, lines: list[str]) -> None:
    import torch

    from kbqa.config import EmbedConfig
    from kbqa.embed import load_encoder

    from kbqa.index.store import IndexFolder

    texts = []
    for row in IndexFolder(ROOT / "indexes" / "medquad-dev").chunk_rows():
        texts.append(row["text"])
        if len(texts) >= n:
            break
    for precision in ("fp32", "bf16"):
        encoder = load_encoder(EmbedConfig(device="cuda", batch_size=256, precision=precision))
        encoder.encode_passages(texts[:256])
        torch.cuda.synchronize()
        t = time.perf_counter()
        encoder.encode_passages(texts)
        torch.cuda.synchronize()
        rate = len(texts) / (time.perf_counter() - t)
        lines.append(f"embedding {precision} on {torch.cuda.get_device_name(0)}: {rate:,.0f} passages/s ({len(texts)} MedQuAD chunks, batch 256)")
        print(lines[-1], flush=True)


def index_figures(n: int, lines: list[str], workdir: Path) -> None:
    import faiss
    from ann_benchmark import make_data

    from kbqa.config import IndexConfig
    from kbqa.index.faiss_backend import FaissIndex

    base, queries, _ = make_data(n, workdir)
    x = np.ascontiguousarray(base)
    flat = faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(x.shape[1]))
    flat.add(x)
    _, truth = flat.search(queries, 10)
    del flat
    names = [str(i) for i in range(n)]
    for kind, over in (("ivf-flat", {}), ("ivf-flat", {"nprobe": 128}), ("ivf-pq", {}), ("ivf-pq", {"nprobe": 128, "refine": 16})):
        t = time.perf_counter()
        index = FaissIndex.create(x.shape[1], IndexConfig(factory=kind, use_gpu="always", **over))
        index.add(names, x)
        index.ready()
        built = time.perf_counter() - t
        index.search(queries[:10], 10)
        t = time.perf_counter()
        found = index.search(queries, 10)
        batch = len(queries) / (time.perf_counter() - t)
        t = time.perf_counter()
        for q in queries[:200]:
            index.search(q[None], 10)
        single = 200 / (time.perf_counter() - t)
        recall = np.mean([len({int(i) for i, _ in r} & set(g.tolist())) / 10 for r, g in zip(found, truth)])
        lines.append(
            f"{kind:<8} {index.meta['factory']:<16} {index.query_params()} on {index.plan} GPUs: build {built:.1f} s, "
            f"QPS batch {batch:,.0f}, single {single:,.0f}, recall@10 {recall:.4f} ({n} vectors)"
        )
        print(lines[-1], flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/kbqa-ann"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    n_faiss, cuda = gpus()
    if not n_faiss and not cuda:
        print(f"skipped: no GPU (FAISS sees {n_faiss} GPUs, torch.cuda.is_available() is {cuda}); "
              "nothing measured on this machine", flush=True)
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    lines = [f"GPUs: FAISS {n_faiss}, torch CUDA {cuda}", f"command: python benchmarks/gpu_benchmark.py --n {args.n} --passages {args.passages}"]
    if cuda:
        embed_figures(args.passages, lines)
    else:
        lines.append("embedding: skipped (torch has no CUDA)")
    if n_faiss:
        index_figures(args.n, lines, args.workdir)
    else:
        lines.append("indexes: skipped (FAISS sees no GPU: install faiss-gpu-cu12)")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
