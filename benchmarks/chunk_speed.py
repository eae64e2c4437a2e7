"""Chunking speed on one thread: chunks per second and tokenizer calls per chunk of kbqa's Chunker over
the scale benchmark's corpus (the documents of ``--source-index``, as ``benchmarks/scale_benchmark.py``
re-chunks them). Run it at two commits to compare.

    KBQA_HOME=. OMP_NUM_THREADS=1 python benchmarks/chunk_speed.py --source-index IDX [--chunks 20000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_benchmark as sb  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source-index", required=True)
    p.add_argument("--chunks", type=int, default=20000)
    args = p.parse_args()
    from kbqa.chunk import Chunker

    source = sb.Source(Path(args.source_index))
    encoder = sb._encoder(source)
    cfg = sb._config(source, args)
    chunker = Chunker(cfg.chunk, encoder.tokenizer, encoder.max_tokens)
    docs = [d for _, d in source.documents(args.chunks)]
    for d in itertools.islice(docs, 100):  # warm-up
        chunker.split(d)
    calls = [0]
    if chunker._fast is not None:  # count the Rust tokenizer's calls
        real = chunker._fast

        class Counting:
            def encode(self, *a: object, **k: object) -> object:
                calls[0] += 1
                return real.encode(*a, **k)

        chunker._fast = Counting()
    started = time.perf_counter()
    n = sum(len(chunker.split(d)) for d in docs)
    seconds = time.perf_counter() - started
    print(json.dumps({"documents": len(docs), "chunks": n, "seconds": round(seconds, 1),
                      "chunks_per_s": round(n / seconds), "tokenizer_calls_per_chunk": round(calls[0] / n, 1)}))


if __name__ == "__main__":
    main()
