"""BM25, dense and hybrid retrieval with each embedder, side by side on one benchmark, scored by `kbqa eval`.

Each ``--index NAME=DIR`` is an index of the benchmark's corpus built with one embedder (e.g. the
bundled MiniLM and the tuned ``models/embedder``); every index is searched dense, hybrid-RRF and
hybrid-score, and BM25 once (the lexical side of the first index). Every row is one call of
``kbqa.evaluate.run.evaluate`` (the function behind ``kbqa eval``) on the index with that row's
search settings: document-level nDCG@10, R@10, R@100 and RR@10 with ir_measures (a document scored
by its best chunk, at least 100 documents ranked per question, as ``kbqa eval`` ranks them), the 95%
bootstrap interval of nDCG@10, and the p50 latency of single ``kb.search`` calls (k=10, query
embedding included) over the first 30 questions.

``--rerank MODEL`` adds hybrid-score + cross-encoder reranking of the first N fused candidates for
each N of ``--rerank-depths``; ``--ask-reader DIR`` adds the p50 latency of whole ``kb.ask`` calls
(retrieval, reranking when on, reading) for hybrid-score with and without reranking.
``--modes`` also offers ``hybrid-rrf-dense2`` / ``hybrid-rrf-lex2`` (RRF with one side weighted 2),
the fusion variants compared when the default search mode was chosen (eval/reports/fusion/), and
``hybrid-score-lex<W>`` (score fusion with BM25 at weight W, e.g. ``hybrid-score-lex0.3``; ``hybrid-score``
uses the index's own ``search.lexical_weight``), the scans behind the default weight (0.5:
eval/reports/fusion/lexical-weight-*.json; 0.3 since: lexical-weight-2-*.json), and
``hybrid-score-long<N>-lex<W>`` (query-length-aware fusion: a query of more than N words gets BM25 weight W,
``search.long_query_words`` / ``search.lexical_weight_long``, the others the index's ``search.lexical_weight``).
``--by-length 10,20,40,80`` adds to every row its nDCG@10 and R@10 over the questions in each
query-length bucket (words as ``kbqa.retrieve.query_words`` counts them; buckets ``<=10``, ``11-20``, ...,
``>80``), from the same run's per-question scores (eval/reports/fusion/length-*.json).

    python eval/scripts/compare_retrieval.py --bench eval/benchmarks/medquad-dev \\
        --index minilm=indexes/medquad-dev-minilm --index tuned=indexes/medquad-dev-tuned \\
        --out eval/reports/retrieval/medquad-dev.json
    python eval/scripts/compare_retrieval.py --bench eval/benchmarks/medquad-dev --index tuned=indexes/medquad-dev-tuned \\
        --rerank models/reranker --rerank-depths 10,20,30 --ask-reader models/reader --out ...
    python eval/scripts/compare_retrieval.py --table eval/reports/retrieval/*.json   # markdown table
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEASURES = ("nDCG@10", "R@10", "R@100", "RR@10")
MODES = {
    "dense": {"mode": "dense"},
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-score": {"mode": "hybrid", "fusion": "score"},
    "hybrid-rrf-dense2": {"mode": "hybrid", "fusion": "rrf", "dense_weight": 2.0},
    "hybrid-rrf-lex2": {"mode": "hybrid", "fusion": "rrf", "lexical_weight": 2.0},
    # score fusion with BM25 at a fixed weight (dense 1): the scan behind the default search.lexical_weight
    **{f"hybrid-score-lex{w:g}": {"mode": "hybrid", "fusion": "score", "lexical_weight": w} for w in (1.0, 0.7, 0.5, 0.3)},
}
DEFAULT_MODES = ("dense", "hybrid-rrf", "hybrid-score")
_LEX = re.compile(r"hybrid-score-lex(\d+(?:\.\d+)?)")
_LONG = re.compile(r"hybrid-score-long(\d+)-lex(\d+(?:\.\d+)?)")


def mode_settings(mode: str) -> dict | None:
    """The search settings of a ``--modes`` name (MODES, ``hybrid-score-lex<W>``, ``hybrid-score-long<N>-lex<W>``);
    None for an unknown name."""
    if mode in MODES:
        return MODES[mode]
    if m := _LEX.fullmatch(mode):
        return {"mode": "hybrid", "fusion": "score", "lexical_weight": float(m[1])}
    if m := _LONG.fullmatch(mode):
        return {"mode": "hybrid", "fusion": "score", "long_query_words": int(m[1]), "lexical_weight_long": float(m[2])}
    return None


def length_buckets(edges: tuple[int, ...]) -> list[tuple[str, int, int]]:
    """(label, lowest, highest) word counts of the buckets cut at ``edges``: <=e1, e1+1-e2, ..., >eN."""
    out, lo = [], 0
    for e in edges:
        out.append((f"<={e}" if lo == 0 else f"{lo}-{e}", lo, e))
        lo = e + 1
    return out + [(f">{edges[-1]}", lo, 10**9)] if edges else [("all", 0, 10**9)]


def by_length(per_query: list[dict], words: dict[str, int], edges: tuple[int, ...]) -> dict:
    """Mean nDCG@10 and R@10 of the scored questions in each length bucket (per-question scores of one run)."""
    out = {}
    for label, lo, hi in length_buckets(edges):
        rows = [r["retrieval"] for r in per_query if "retrieval" in r and lo <= words[r["qid"]] <= hi]
        out[label] = {"n": len(rows), **{m: round(statistics.fmean(r[m] for r in rows), 4) if rows else None
                                          for m in ("nDCG@10", "R@10")}}
    return out


def ask_latency(kb, questions, reader, settings: dict) -> float:
    """p50 milliseconds of ``kb.ask`` (k=10) over the first 30 questions, after one warm-up call."""
    from kbqa.evaluate.run import clear_caches

    system = kb.with_search(**settings)
    system.ask(questions[0].question, k=10, reader=reader)
    lat = []
    for q in questions[:30]:
        clear_caches(system)
        t = time.perf_counter()
        system.ask(q.question, k=10, reader=reader)
        lat.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(lat), 1)


def evaluate(kb, questions, qrels, settings: dict, chunks: list | None = None,
             length_edges: tuple[int, ...] = ()) -> dict:
    """One row: ``kbqa eval`` (kbqa.evaluate.run.evaluate) of ``kb`` searched with ``settings``; with
    ``length_edges``, also its scores per query-length bucket (:func:`by_length`)."""
    from kbqa.evaluate.run import evaluate as kbqa_eval
    from kbqa.retrieve import query_words

    result = kbqa_eval(kb.with_search(**settings), questions, qrels=qrels, k=10, chunks=chunks, progress=False)
    report = result.report
    scores = report["retrieval"]
    row = {**{m: round(scores[m], 4) for m in MEASURES}, "n_questions": scores["n_questions"],
           "ci95_nDCG@10": [round(x, 4) for x in report["ci95"]["nDCG@10"]],
           "p50_ms": round(report["latency_ms"]["search_p50"], 1),
           "batch_seconds": round(report["timing_s"]["retrieval"], 1)}
    if length_edges:
        words = {q.qid: query_words(q.question) for q in questions}
        row["by_length"] = by_length(result.per_query, words, length_edges)
        row["per_question_nDCG@10"] = {r["qid"]: round(r["retrieval"]["nDCG@10"], 4)
                                       for r in result.per_query if "retrieval" in r}
    return row


def compare(bench: Path, indexes: dict[str, str], rerank: str | None = None,
            rerank_depths: tuple[int, ...] = (20,), ask_reader: str | None = None, modes: tuple[str, ...] = DEFAULT_MODES,
            bm25: bool = True, rerank_index: str | None = None, rerank_precision: str = "bf16",
            rerank_weights: tuple[float, ...] = (1.0,), fold: str | None = None,
            length_edges: tuple[int, ...] = ()) -> dict:
    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.evaluate.retrieval import MIN_DOCS
    from kbqa.pipeline import KnowledgeBase

    questions = load_questions(bench / "questions.jsonl")
    qrels = load_qrels(bench / "qrels.tsv")
    judged = {r.qid for r in qrels if r.grade > 0}
    questions = [q for q in questions if q.qid in judged]
    if fold:  # one cross-validation fold's questions: what a model trained on the other folds may be scored on
        from kbqa.paths import load_split

        split, _, k = fold.rpartition(":")
        held = set(load_split(split)["folds"][int(k)])
        questions = [q for q in questions if q.qid in held]
    results: dict[str, dict] = {}
    embedders: dict[str, dict] = {}
    for i, (name, path) in enumerate(indexes.items()):
        kb = KnowledgeBase.load(path).with_lexical()  # an index built without BM25 gets it in memory
        chunks = list(kb.iter_chunks())
        ident = kb.manifest["embedder"]
        embedders[name] = {"index": path, "model": ident.get("name"), "weights_sha256": ident.get("weights_sha256"),
                           "fingerprint": kb.fingerprint, "chunks": len(chunks)}
        if i == 0 and bm25:
            results["bm25"] = evaluate(kb, questions, qrels, {"mode": "lexical"}, chunks, length_edges)
            print(f"{'bm25':24s} {_fmt(results['bm25'])}", flush=True)
        systems = {mode: mode_settings(mode) for mode in modes}
        for n in rerank_depths if rerank and name == (rerank_index or name) else ():
            for w in rerank_weights:
                label = f"hybrid-score+rerank@{n}" + ("" if w == 1.0 else f"(w={w:g})")
                systems[label] = {**MODES["hybrid-score"], "rerank": rerank, "rerank_depth": n,
                                  "rerank_precision": rerank_precision, "rerank_weight": w}
        for mode, settings in systems.items():
            key = f"{name}/{mode}"
            results[key] = evaluate(kb, questions, qrels, settings, chunks, length_edges)
            if ask_reader and mode.startswith("hybrid-score"):
                results[key]["ask_p50_ms"] = ask_latency(kb, questions, ask_reader, settings)
            print(f"{key:24s} {_fmt(results[key])}", flush=True)
    extra = {}
    if rerank:
        from kbqa.rerank import load_reranker

        extra["reranker"] = load_reranker(rerank, precision=rerank_precision).identity()
    return {
        "bench": str(bench), "questions": len(questions), "embedders": embedders,
        "scored_by": f"kbqa.evaluate.run.evaluate (kbqa eval): >= {MIN_DOCS} documents ranked per question",
        "results": results, **extra, **({"fold": fold} if fold else {}),
        **({"length_buckets_words": [b[0] for b in length_buckets(length_edges)]} if length_edges else {}),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs (shared), torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}",
    }


def _fmt(r: dict) -> str:
    ask = f"  ask p50 {r['ask_p50_ms']} ms" if "ask_p50_ms" in r else ""
    return "  ".join(f"{m} {r[m]:.3f}" for m in MEASURES) + f"  p50 {r['p50_ms']} ms" + ask


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
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--table", nargs="+", help="print a markdown table of these result files and exit")
    ap.add_argument("--rerank", help="a reranker (folder or kbqa-medical-reranker): adds hybrid-score+rerank@N rows")
    ap.add_argument("--rerank-depths", default="20", help="comma-separated N: fused candidates the reranker re-scores")
    ap.add_argument("--rerank-weights", default="1", help="comma-separated w: w * reranker + (1 - w) * fused score")
    ap.add_argument("--rerank-index", help="NAME of the --index to rerank on (default: every index)")
    ap.add_argument("--rerank-precision", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--ask-reader", help="a reader folder: adds the p50 latency of kb.ask to the hybrid-score rows")
    ap.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    ap.add_argument("--fold", metavar="SPLIT:K", help="score only fold K's questions of SPLIT (e.g. "
                    "eval/splits/liveqa.json:0): a model trained with --liveqa-holdout K is scored there alone")
    ap.add_argument("--by-length", default="", metavar="E1,E2,...", help="query-length bucket edges in words: "
                    "adds each row's nDCG@10 and R@10 per bucket (<=E1, E1+1-E2, ..., >En) and per question")
    ap.add_argument("--no-bm25", action="store_true", help="leave the BM25 row out")
    args = ap.parse_args()
    if args.table:
        print(table(args.table))
        return
    if not args.bench or not args.index:
        ap.error("--bench and at least one --index NAME=DIR are required")
    indexes = dict(item.split("=", 1) for item in args.index)
    from kbqa.read.reader import Reader

    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = [m for m in modes if mode_settings(m) is None]
    if unknown:
        ap.error(f"unknown --modes {unknown}; choose from {sorted(MODES)}, hybrid-score-lex<W> or "
                 "hybrid-score-long<N>-lex<W>")
    edges = tuple(int(e) for e in args.by_length.split(",") if e)
    if list(edges) != sorted(set(edges)) or any(e < 1 for e in edges):
        ap.error(f"--by-length must be increasing positive word counts, got {args.by_length!r}")
    report = compare(
        Path(args.bench), indexes, rerank=args.rerank,
        rerank_depths=tuple(int(n) for n in args.rerank_depths.split(",") if n),
        ask_reader=Reader.load(args.ask_reader) if args.ask_reader else None, modes=modes, bm25=not args.no_bm25,
        rerank_index=args.rerank_index, rerank_precision=args.rerank_precision,
        rerank_weights=tuple(float(w) for w in args.rerank_weights.split(",") if w), fold=args.fold,
        length_edges=edges,
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
