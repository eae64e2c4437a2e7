"""Two embedders' retrieval fused, scored like ``kbqa eval``: does a second dense side (e.g. all-mpnet-base-v2)
add to the default?

Each ``--system NAME=INDEX:MODE`` is an index of the benchmark's corpus (built with one embedder; two
embedders' chunks need not match, since fusion is by document) searched in one of ``compare_retrieval.py``'s
modes (``dense``, ``hybrid-score``, ``hybrid-score-lex0.3``, ...). Every system ranks each question's
documents exactly as ``kbqa eval`` does (:func:`kbqa.evaluate.retrieval.doc_rankings`: a document scores
its best chunk, at least 100 documents per question). Then for every weight ``w`` of ``--weights`` the
first two systems are fused by document with kbqa's score fusion (:func:`kbqa.retrieve.fuse_scores`:
min-max normalised per question, ``1 * first + w * second``, a document missing from one side gets 0
there). Every row is scored with ``kbqa.evaluate.metrics`` (ir_measures): nDCG@10, R@10, R@100, its 95%
bootstrap interval and the paired bootstrap p-value against the first system; ``--fold SPLIT`` adds each
row's nDCG@10 per fold of that split (so a model trained in cross-validation is read on its own fold).

    python eval/scripts/ensemble_retrieval.py --bench eval/benchmarks/liveqa-train \\
        --system minilm=indexes/liveqa-train-minilm:dense --system mpnet=indexes/liveqa-train-mpnet:dense \\
        --weights 0.5,1,2 --fold eval/splits/liveqa.json --out eval/reports/retrieval/mpnet/liveqa-train.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

MEASURES = ("nDCG@10", "R@10", "R@100")


def parse_system(text: str) -> tuple[str, str, str]:
    """``NAME=INDEX:MODE`` -> (name, index, mode); the mode defaults to dense."""
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--system {text!r}: expected NAME=INDEX[:MODE]")
    index, _, mode = rest.rpartition(":") if ":" in rest else (rest, "", "dense")
    return name, index, mode or "dense"


def rankings(index: str, mode: str, texts: list[str]) -> list[list[tuple[str, float]]]:
    """Each question's documents, best first with their scores, as ``kbqa eval`` ranks them in ``mode``."""
    from compare_retrieval import mode_settings

    from kbqa.evaluate.retrieval import dense_search, doc_rankings
    from kbqa.pipeline import KnowledgeBase

    settings = mode_settings(mode)
    if settings is None:
        raise SystemExit(f"unknown mode {mode!r} (compare_retrieval.py's --modes)")
    kb = KnowledgeBase.load(index)
    if settings.get("mode") != "dense":
        kb = kb.with_lexical()
    kb = kb.with_search(**settings)
    sizes = kb.manifest["counts"]
    return doc_rankings(dense_search(kb), texts, n_chunks=int(sizes["chunks"]), n_docs=int(sizes["documents"]))


def score(qrels, qids: list[str], ranked: list[list[tuple[str, float]]]) -> dict[str, dict[str, float]]:
    from kbqa.evaluate import metrics as M

    return M.retrieval_per_query(qrels, dict(zip(qids, ranked)), MEASURES)


def row(per_q: dict[str, dict[str, float]], base: dict[str, dict[str, float]], qids: list[str],
        folds: list[set[str]]) -> dict:
    import numpy as np

    from kbqa.evaluate import metrics as M

    mine = np.array([per_q[q]["nDCG@10"] for q in qids])
    ref = np.array([base[q]["nDCG@10"] for q in qids])
    means = M.bootstrap(lambda idx: mine[idx].mean(axis=1), len(qids))
    out = {**{m: round(M.mean_metrics(per_q, MEASURES)[m], 4) for m in MEASURES},
           "ci95_nDCG@10": [round(x, 4) for x in M.percentile_interval(means)],
           "vs_first_nDCG@10": round(float(mine.mean() - ref.mean()), 4),
           "p_vs_first": round(M.paired_bootstrap_p(mine, ref), 4)}
    if folds:
        out["nDCG@10_by_fold"] = [round(float(np.mean([per_q[q]["nDCG@10"] for q in qids if q in f])), 4)
                                  for f in folds]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", required=True, help="benchmark folder (questions.jsonl, qrels.tsv)")
    ap.add_argument("--system", action="append", required=True, metavar="NAME=INDEX:MODE")
    ap.add_argument("--weights", default="0.5,1,2", help="comma-separated w: first + w * second, fused by document")
    ap.add_argument("--fold", metavar="SPLIT", help="a split with folds: adds each row's nDCG@10 per fold")
    ap.add_argument("--only-fold", metavar="SPLIT:K", help="score only fold K's questions")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()

    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.paths import load_split
    from kbqa.retrieve import fuse_scores

    bench = Path(args.bench)
    qrels = load_qrels(bench / "qrels.tsv")
    judged = {r.qid for r in qrels if r.grade > 0}
    questions = [q for q in load_questions(bench / "questions.jsonl") if q.qid in judged]
    if args.only_fold:
        split, _, k = args.only_fold.rpartition(":")
        held = set(load_split(split)["folds"][int(k)])
        questions = [q for q in questions if q.qid in held]
    qids = [q.qid for q in questions]
    folds = [set(f) for f in load_split(args.fold)["folds"]] if args.fold else []
    systems = [parse_system(s) for s in args.system]
    if len(systems) < 2:
        raise SystemExit("give two --system: the first is the base, the second is fused into it")
    ranked = {}
    for name, index, mode in systems:
        ranked[name] = rankings(index, mode, [q.question for q in questions])
        print(f"ranked {name} ({index}, {mode})", flush=True)
    per_q = {name: score(qrels, qids, r) for name, r in ranked.items()}
    first, second = systems[0][0], systems[1][0]
    weights = [float(w) for w in args.weights.split(",") if w.strip()]
    for w in weights:
        fused = [fuse_scores([a, b], [1.0, w])[: max(len(a), len(b))] for a, b in zip(ranked[first], ranked[second])]
        per_q[f"{first}+{w:g}*{second}"] = score(qrels, qids, fused)
    results = {name: row(pq, per_q[first], qids, folds) for name, pq in per_q.items()}
    for name, r in results.items():
        by_fold = f"  folds {r['nDCG@10_by_fold']}" if "nDCG@10_by_fold" in r else ""
        print(f"{name:36s} nDCG@10 {r['nDCG@10']:.4f} {r['ci95_nDCG@10']}  R@10 {r['R@10']:.4f}  "
              f"R@100 {r['R@100']:.4f}  vs {first} {r['vs_first_nDCG@10']:+.4f} (p {r['p_vs_first']}){by_fold}")
    report = {"bench": str(bench), "questions": len(qids), "systems": {n: {"index": i, "mode": m} for n, i, m in systems},
              "fusion": "kbqa.retrieve.fuse_scores by document: first + w * second", "results": results,
              **({"only_fold": args.only_fold} if args.only_fold else {}), **({"folds_of": args.fold} if args.fold else {}),
              "scored_by": "kbqa.evaluate.retrieval.doc_rankings + kbqa.evaluate.metrics (ir_measures)",
              "command": "python eval/scripts/ensemble_retrieval.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.machine()} {os.cpu_count()} CPUs (shared)"}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
