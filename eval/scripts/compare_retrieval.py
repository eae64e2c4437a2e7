"""BM25, dense and hybrid retrieval with each embedder, side by side on one benchmark.

Each ``--index NAME=DIR`` is an index of the benchmark's corpus built with one embedder (e.g. the
bundled MiniLM and the tuned ``models/embedder``); every index is searched dense, hybrid-RRF and
hybrid-score, and BM25 once (the lexical side of the first index). Document-level nDCG@10, R@10,
R@100 and RR@10 with ir_measures (a document scored by its best chunk), plus the p50 latency of
single ``kb.search`` calls (k=10, query embedding included) over the first 30 questions.

    python eval/scripts/compare_retrieval.py --bench eval/benchmarks/medquad-dev \\
        --index minilm=indexes/medquad-dev --index tuned=indexes/medquad-dev-tuned \\
        --out eval/reports/retrieval/medquad-dev.json
    python eval/scripts/compare_retrieval.py --table eval/reports/retrieval/*.json   # markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEASURES = ("nDCG@10", "R@10", "R@100", "RR@10")
MODES = {
    "dense": {"mode": "dense"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-score": {"mode": "hybrid", "fusion": "score"},
}


def evaluate(kb, questions, qrels, settings: dict, depth: int) -> dict:
    from kbqa.evaluate.metrics import mean_metrics, retrieval_per_query
    from kbqa.evaluate.retrieval import best_per_doc

    system = kb.with_search(candidates=depth, **settings)
    t = time.perf_counter()
    hits = system.search_many([q.question for q in questions], depth)
    batch_s = time.perf_counter() - t
    run = {q.qid: best_per_doc((h.doc_id, h.score) for h in row) for q, row in zip(questions, hits)}
    scores = mean_metrics(retrieval_per_query(qrels, run, MEASURES), MEASURES)
    lat = []
    system.search(questions[0].question, 10)  # warm-up
    for q in questions[:30]:
        t = time.perf_counter()
        system.search(q.question, 10)
        lat.append((time.perf_counter() - t) * 1000)
    return {**{m: round(v, 4) for m, v in scores.items()}, "p50_ms": round(statistics.median(lat), 1),
            "batch_seconds": round(batch_s, 1)}


def compare(bench: Path, indexes: dict[str, str], depth: int) -> dict:
    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.pipeline import KnowledgeBase

    questions = load_questions(bench / "questions.jsonl")
    qrels = load_qrels(bench / "qrels.tsv")
    judged = {r.qid for r in qrels if r.grade > 0}
    questions = [q for q in questions if q.qid in judged]
    results: dict[str, dict] = {}
    embedders: dict[str, dict] = {}
    for i, (name, path) in enumerate(indexes.items()):
        kb = KnowledgeBase.load(path)
        if kb.lexical is None:  # an index built before the lexical side existed: add it in memory
            from kbqa.chunk import embed_text
            from kbqa.lexical import LexicalIndex

            chunks = list(kb.iter_chunks())
            kb._lexical = LexicalIndex.build([c.chunk_id for c in chunks], [embed_text(c, kb.config.chunk) for c in chunks])
        ident = kb.manifest["embedder"] if hasattr(kb, "manifest") else {}
        embedders[name] = {"index": path, "model": ident.get("name"), "weights_sha256": ident.get("weights_sha256")}
        if i == 0:
            results["bm25"] = evaluate(kb, questions, qrels, {"mode": "lexical"}, depth)
            print(f"{'bm25':24s} {_fmt(results['bm25'])}", flush=True)
        for mode, settings in MODES.items():
            key = f"{name}/{mode}"
            results[key] = evaluate(kb, questions, qrels, settings, depth)
            print(f"{key:24s} {_fmt(results[key])}", flush=True)
    return {
        "bench": str(bench), "questions": len(questions), "embedders": embedders, "results": results,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs (shared), torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}",
    }


def _fmt(r: dict) -> str:
    return "  ".join(f"{m} {r[m]:.3f}" for m in MEASURES) + f"  p50 {r['p50_ms']} ms"


def table(files: list[str]) -> str:
    reports = [json.loads(Path(f).read_text()) for f in files]
    systems: list[str] = []
    for rep in reports:
        systems += [s for s in rep["results"] if s not in systems]
    names = [Path(rep["bench"]).name for rep in reports]
    head = "| system | " + " | ".join(f"{n} nDCG@10 | {n} R@10" for n in names) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(names))]
    for s in systems:
        cells = []
        for rep in reports:
            r = rep["results"].get(s)
            cells += [f"{r['nDCG@10']:.3f}", f"{r['R@10']:.3f}"] if r else ["", ""]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", help="benchmark folder (questions.jsonl, qrels.tsv)")
    ap.add_argument("--index", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--depth", type=int, default=300, help="chunks retrieved per question before doc collapsing")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--table", nargs="+", help="print a markdown table of these result files and exit")
    args = ap.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not args.bench or not args.index:
        ap.error("--bench and at least one --index NAME=DIR are required")
    indexes = dict(item.split("=", 1) for item in args.index)
    report = compare(Path(args.bench), indexes, args.depth)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
