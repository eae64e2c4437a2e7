"""BM25's fusion weight as a function of query length, from the per-question scores of a weight scan.

Reads reports of ``compare_retrieval.py --by-length E1,E2,... --modes hybrid-score-lex<W>,...`` (one per
benchmark; every row keeps each question's nDCG@10 as ``kbqa eval`` scored it) and prints, for each:

- the nDCG@10 of every BM25 weight in every query-length bucket, and each bucket's best weight;
- every length rule "more than N words: BM25 at W, else the default weight" (``search.long_query_words`` N,
  ``search.lexical_weight_long`` W) against the default: its nDCG@10, the paired difference with its 95%
  bootstrap interval and two-sided paired-bootstrap p (kbqa.evaluate.metrics). A query's ranking depends
  only on its own text and weight, so a rule's per-question score is the scan's score at that question's
  weight: the rule needs no run of its own (the chosen one is also run through ``kbqa eval``, to check).

    python eval/scripts/length_fusion_rules.py eval/reports/fusion/length-liveqa-train-fold0.json \\
        eval/reports/fusion/length-claims-dev.json --thresholds 20,30,40,60 --out eval/reports/fusion/length-rules.json
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

_LEX = re.compile(r"(?:(?P<name>[^/]+)/)?hybrid-score-lex(?P<w>\d+(?:\.\d+)?)")


def scan(report: dict, embedder: str) -> dict[float, dict[str, float]]:
    """BM25 weight -> {qid: nDCG@10} of the ``embedder``'s ``hybrid-score-lex<W>`` rows."""
    out = {}
    for key, row in report["results"].items():
        m = _LEX.fullmatch(key)
        if m and m["name"] == embedder and "per_question_nDCG@10" in row:
            out[float(m["w"])] = row["per_question_nDCG@10"]
    return out


def analyse(report: dict, embedder: str, thresholds: list[int], default: float) -> dict:
    from kbqa.evaluate.benchmark import load_questions
    from kbqa.evaluate.metrics import mean_ci, paired_bootstrap_p
    from kbqa.retrieve import query_words

    per_w = scan(report, embedder)
    if default not in per_w:
        raise SystemExit(f"{report['bench']}: no {embedder}/hybrid-score-lex{default:g} row with per-question scores; "
                         "rerun compare_retrieval.py with --by-length and that mode")
    words = {q.qid: query_words(q.question) for q in load_questions(Path(report["bench"]) / "questions.jsonl")}
    qids = sorted(per_w[default])
    weights = sorted(per_w)
    buckets = {}
    for label in report["length_buckets_words"]:
        lo, hi = _bounds(label)
        ids = [q for q in qids if lo <= words[q] <= hi]
        cells = {f"{w:g}": round(statistics.fmean(per_w[w][q] for q in ids), 4) if ids else None for w in weights}
        best = max(weights, key=lambda w: (cells[f"{w:g}"] or 0.0, -abs(w - default))) if ids else None
        buckets[label] = {"n": len(ids), "nDCG@10": cells, "best_weight": best}
    base = [per_w[default][q] for q in qids]
    rules = {}
    for n in thresholds:
        for w in weights:
            if w == default:
                continue
            rule = [per_w[w][q] if words[q] > n else per_w[default][q] for q in qids]
            diff = [a - b for a, b in zip(rule, base)]
            rules[f"long{n}-lex{w:g}"] = {
                "long_questions": sum(words[q] > n for q in qids), "nDCG@10": round(statistics.fmean(rule), 4),
                "delta": round(statistics.fmean(diff), 4), "delta_ci95": [round(x, 4) for x in mean_ci(diff)],
                "p": round(paired_bootstrap_p(rule, base), 3)}
    return {"bench": report["bench"], "fold": report.get("fold"), "questions": len(qids), "embedder": embedder,
            "default_weight": default, "default_nDCG@10": round(statistics.fmean(base), 4),
            "default_ci95": [round(x, 4) for x in mean_ci(base)], "buckets": buckets, "rules": rules}


def _bounds(label: str) -> tuple[int, int]:
    if label.startswith("<="):
        return 0, int(label[2:])
    if label.startswith(">"):
        return int(label[1:]) + 1, 10**9
    lo, hi = label.split("-")
    return int(lo), int(hi)


def markdown(result: dict) -> str:
    name = Path(result["bench"]).name + (f" fold {result['fold'].rpartition(':')[2]}" if result["fold"] else "")
    weights = list(next(iter(result["buckets"].values()))["nDCG@10"])
    lines = [f"### {name} ({result['questions']} questions; default BM25 {result['default_weight']:g}: "
             f"nDCG@10 {result['default_nDCG@10']:.3f} {result['default_ci95']})", "",
             "| words | n | " + " | ".join(f"BM25 {w}" for w in weights) + " | best |",
             "|---|---|" + "---|" * (len(weights) + 1)]
    for label, b in result["buckets"].items():
        cells = [("" if b["nDCG@10"][w] is None else f"{b['nDCG@10'][w]:.3f}") for w in weights]
        best = "" if b["best_weight"] is None else f"{b['best_weight']:g}"
        lines.append(f"| {label} | {b['n']} | " + " | ".join(cells) + f" | {best} |")
    lines += ["", "| rule | long questions | nDCG@10 | Δ vs default [95% CI] | p |", "|---|---|---|---|---|"]
    for rule, r in result["rules"].items():
        lines.append(f"| {rule} | {r['long_questions']} | {r['nDCG@10']:.3f} | {r['delta']:+.3f} "
                     f"[{r['delta_ci95'][0]:+.3f}, {r['delta_ci95'][1]:+.3f}] | {r['p']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reports", nargs="+", help="compare_retrieval.py reports written with --by-length")
    ap.add_argument("--embedder", default="tuned", help="NAME of the --index whose rows to read (default tuned)")
    ap.add_argument("--thresholds", default="20,30,40,60", help="comma-separated N: rules for queries of more than N words")
    ap.add_argument("--default", type=float, default=0.5, help="the default BM25 weight the rules are compared with")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    thresholds = [int(n) for n in args.thresholds.split(",") if n]
    results = [analyse(json.loads(Path(f).read_text()), args.embedder, thresholds, args.default) for f in args.reports]
    for r in results:
        print(markdown(r) + "\n")
    if args.out:
        Path(args.out).write_text(json.dumps({"reports": args.reports, "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
