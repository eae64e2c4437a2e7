"""Indexing throughput against raw sentence-transformers + FAISS, and query latency.

Measured in one run on the same chunks (real MedQuAD answers from ../shared/data):
  raw   = SentenceTransformer.encode(...) + faiss.IndexFlatIP.add(...) over the chunk texts
  kbqa  = KnowledgeBase.build(corpus.jsonl) end to end: read, chunk, embed, index, write, commit
Ratio = kbqa chunks/s / raw chunks/s (target >= 0.90). Raw is timed before and after kbqa.
Then single-query search latency (query embedding included) on an index of --latency-chunks
chunks, and optionally bf16 autocast against fp32 (speed, top-10 overlap).

    python benchmarks/index_throughput.py [--chunks 5000] [--latency-chunks 20000] [--bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from kbqa.chunk import Chunker, embed_text  # noqa: E402
from kbqa.config import Config  # noqa: E402
from kbqa.corpus import iter_documents  # noqa: E402
from kbqa.embed import load_encoder  # noqa: E402
from kbqa.pipeline import KnowledgeBase  # noqa: E402

MEDQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medquad"


def corpus_with_chunks(n_chunks: int, chunker: Chunker, out: Path) -> tuple[list, list[str]]:
    """Write MedQuAD documents to ``out`` until they make >= n_chunks chunks."""
    docs, chunks = [], []
    for doc in iter_documents(MEDQUAD, "medquad"):
        docs.append(doc)
        chunks.extend(chunker.split(doc))
        if len(chunks) >= n_chunks:
            break
    with open(out, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.doc_id, "title": d.title, "text": d.text, **d.meta}) + "\n")
    return docs, [embed_text(c, Config().chunk) for c in chunks]


def raw_run(model, texts: list[str], batch_size: int) -> float:
    import faiss

    t = time.perf_counter()
    vecs = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(np.ascontiguousarray(vecs, dtype=np.float32))
    return time.perf_counter() - t


def latency(kb: KnowledgeBase, queries: list[str], k: int = 10) -> tuple[float, float]:
    for q in queries[:5]:
        kb.search(q, k)
    times = []
    for q in queries:
        t = time.perf_counter()
        kb.search(q, k)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=5000)
    ap.add_argument("--latency-chunks", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--bf16", action="store_true", help="also measure bf16 autocast against fp32")
    args = ap.parse_args()
    import torch

    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}")
    cfg = Config()
    encoder = load_encoder(cfg.embed)
    chunker = Chunker(cfg.chunk, encoder.tokenizer, encoder.max_tokens)
    tmp = Path(tempfile.mkdtemp(prefix="kbqa-bench-"))
    docs, texts = corpus_with_chunks(args.chunks, chunker, tmp / "corpus.jsonl")
    print(f"corpus: {len(docs)} MedQuAD documents -> {len(texts)} chunks")
    model = encoder.model
    raw_run(model, texts[:64], cfg.embed.batch_size)  # warm-up
    raw1 = raw_run(model, texts, cfg.embed.batch_size)
    t = time.perf_counter()
    kb = KnowledgeBase.build([tmp / "corpus.jsonl"], tmp / "idx", cfg, progress=False)
    wall = time.perf_counter() - t
    inner = kb.manifest["build_seconds"]
    raw2 = raw_run(model, texts, cfg.embed.batch_size)
    raw = (raw1 + raw2) / 2
    n = kb.manifest["counts"]["chunks"]
    assert n == len(texts), (n, len(texts))
    print(f"raw ST.encode + IndexFlatIP.add: {len(texts) / raw:.1f} chunks/s (runs {raw1:.1f}s, {raw2:.1f}s)")
    print(f"kbqa build (read+chunk+embed+index+write+commit): {n / inner:.1f} chunks/s ({inner:.1f}s; "
          f"{wall:.1f}s with model load)")
    print(f"ratio kbqa/raw: {raw / inner:.3f}  (target >= 0.90)")

    questions = [d.title for d in docs if d.title][: args.queries]
    if args.bf16:
        fast = load_encoder(cfg.replace(embed={"precision": "bf16"}).embed)
        fast.encode_passages(texts[:64])
        t = time.perf_counter()
        vb = fast.encode_passages(texts)
        tb = time.perf_counter() - t
        vf = kb.index.vectors() if hasattr(kb.index, "vectors") else None
        qf, qb = encoder.encode_queries(questions), fast.encode_queries(questions)
        top_f = np.argsort(-(qf @ vf.T), axis=1)[:, :10]
        top_b = np.argsort(-(qb @ vb.T), axis=1)[:, :10]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_f, top_b)])
        print(f"bf16 autocast embedding: {len(texts) / tb:.1f} chunks/s ({raw / tb:.2f}x raw fp32); "
              f"top-10 overlap with fp32 over {len(questions)} queries: {overlap:.3f}")

    if args.latency_chunks <= 0:
        return
    if args.latency_chunks > n:
        # the latency index is embedded with bf16 to save time; queries are then encoded exactly as
        # by default (fp32), which is what a search costs
        corpus_with_chunks(args.latency_chunks, chunker, tmp / "corpus20k.jsonl")
        fast = cfg.replace(embed={"precision": "bf16"})
        KnowledgeBase.build([tmp / "corpus20k.jsonl"], tmp / "idx20k", fast, progress=True)
        kb = KnowledgeBase.load(tmp / "idx20k", cfg)
    p50, p95 = latency(kb, questions)
    print(f"search latency on {len(kb)} chunks (query embedding + top-10), {len(questions)} queries: "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms  (target p50 <= 15 ms)")


if __name__ == "__main__":
    main()
