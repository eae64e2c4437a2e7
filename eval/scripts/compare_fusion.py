"""Dense vs BM25 vs hybrid (RRF, score fusion) on one index and benchmark, in one run.

Used to pick the default search mode (kbqa.config.SearchConfig.mode). Document-level nDCG@10 and
R@10 with ir_measures, a document scored by its best chunk.

    python eval/scripts/compare_fusion.py --index indexes/medquad-dev --bench eval/benchmarks/medquad-dev
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from kbqa.evaluate.benchmark import load_qrels, load_questions  # noqa: E402
from kbqa.evaluate.metrics import mean_metrics, retrieval_per_query  # noqa: E402
from kbqa.evaluate.retrieval import best_per_doc  # noqa: E402
from kbqa.pipeline import KnowledgeBase  # noqa: E402

MEASURES = ("nDCG@10", "R@10", "R@100", "RR@10")
SYSTEMS = {
    "dense": {"mode": "dense"},
    "bm25": {"mode": "lexical"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-rrf-dense2": {"mode": "hybrid", "fusion": "rrf", "dense_weight": 2.0},
    "hybrid-rrf-lex2": {"mode": "hybrid", "fusion": "rrf", "lexical_weight": 2.0},
    "hybrid-score": {"mode": "hybrid", "fusion": "score"},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--bench", required=True, help="folder with questions.jsonl and qrels.tsv")
    ap.add_argument("--chunks", type=int, default=300, help="chunks retrieved per question before doc collapsing")
    ap.add_argument("--out", help="write the table as JSON here")
    args = ap.parse_args()
    bench = Path(args.bench)
    questions = load_questions(bench / "questions.jsonl")
    qrels = load_qrels(bench / "qrels.tsv")
    kb = KnowledgeBase.load(args.index)
    if kb.lexical is None:  # an index built before the lexical side existed: add it in memory
        from kbqa.chunk import embed_text
        from kbqa.lexical import LexicalIndex

        chunks = list(kb.iter_chunks())
        kb._lexical = LexicalIndex.build([c.chunk_id for c in chunks], [embed_text(c, kb.config.chunk) for c in chunks])
    texts = [q.question for q in questions]
    results = {}
    for name, settings in SYSTEMS.items():
        t = time.perf_counter()
        hits = kb.with_search(candidates=args.chunks, **settings).search_many(texts, args.chunks)
        run = {q.qid: best_per_doc((h.doc_id, h.score) for h in row) for q, row in zip(questions, hits)}
        scores = mean_metrics(retrieval_per_query(qrels, run, MEASURES), MEASURES)
        results[name] = {**{m: round(v, 4) for m, v in scores.items()}, "seconds": round(time.perf_counter() - t, 1)}
        print(f"{name:20s} " + "  ".join(f"{m} {v:.3f}" for m, v in scores.items()) + f"  ({results[name]['seconds']} s)")
    if args.out:
        Path(args.out).write_text(json.dumps({"index": args.index, "bench": args.bench, "results": results}, indent=1))


if __name__ == "__main__":
    main()
