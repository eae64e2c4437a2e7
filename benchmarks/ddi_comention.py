"""The DDI model on knowledge-base co-mention sentences: precision, recall and F1 of "interaction stated"
per threshold on P(interaction), and the reporting threshold by the rule of the dev set's README.

    nice -n 10 python benchmarks/ddi_comention.py --out benchmarks/results/ddi_comention.json

Sentences: eval/benchmarks/ddi-comention (rebuilt from ../shared/data through the corpus recipes and
checked against the definition's offsets). Each is read exactly as ``kbqa interactions drug1 drug2``
reads it: kbqa.ddi.interactions.score_sentences with the two drugs' mention patterns (the pair
blinded as DRUG1/DRUG2, the model's lexicon as DRUGN, the best of up to 4 pairings).
Baselines: the rule before this benchmark (a sentence is an interaction when its most probable
label is not ``none``) and "every co-mention is an interaction".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRID = [round(0.05 * i, 2) for i in range(1, 20)] + [0.99]
MIN_PREDICTED = 3
TARGET_PRECISION = 0.80


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def row(gold: list[bool], pred: list[bool], name: str) -> dict:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, _ = precision_recall_fscore_support(gold, pred, average="binary", zero_division=0)
    tp = sum(g and q for g, q in zip(gold, pred))
    npred = sum(pred)
    lo, hi = wilson(tp, npred)
    return {"rule": name, "predicted": npred, "tp": tp, "precision": float(p), "precision_ci95": [lo, hi],
            "recall": float(r), "f1": float(f)}


def choose(rows: list[dict]) -> tuple[dict, str]:
    ok = [r for r in rows if r["predicted"] >= MIN_PREDICTED and r["precision"] >= TARGET_PRECISION]
    if ok:
        return min(ok, key=lambda r: r["threshold"]), f"lowest threshold with precision >= {TARGET_PRECISION}"
    best = max(rows, key=lambda r: (r["f1"], r["threshold"]))
    return best, f"the highest F1 (no threshold reaches precision {TARGET_PRECISION})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "ddi"))
    ap.add_argument("--definition", default=str(ROOT / "eval" / "benchmarks" / "ddi-comention" / "definition.jsonl"))
    ap.add_argument("--mirror", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--show", action="store_true", help="print each sentence's P(interaction) and label")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from kbqa.ddi.comention import corpus_documents, load_definition, materialise
    from kbqa.ddi.corpus import NEGATIVE
    from kbqa.ddi.interactions import REPORT_THRESHOLD, score_sentences
    from kbqa.ddi.model import DDIModel
    from kbqa.ddi.names import mention_pattern, variants

    items = load_definition(args.definition)
    docs = corpus_documents(mirror=args.mirror, wanted={it.doc_id for it in items})
    sentences = materialise(items, docs, args.definition)
    model = DDIModel.load(args.model)
    queries, patterns = [], []
    for s in sentences:
        a, b = s.item.drug1.name, s.item.drug2.name
        queries.append((s.text, a, b))
        patterns.append({a: mention_pattern(variants(a)), b: mention_pattern(variants(b))})
    started = time.perf_counter()
    probs = score_sentences(model, queries, patterns)
    seconds = time.perf_counter() - started
    missing = [s.item.id for s, p in zip(sentences, probs) if p is None]
    if missing:
        print(f"ddi_comention: the two drugs are not found apart in {missing}", file=sys.stderr)
        return 2
    gold = [s.stated for s in sentences]
    p_int = [1.0 - p[NEGATIVE] for p in probs]
    argmax_pos = [max(p, key=p.__getitem__) != NEGATIVE for p in probs]

    rows = []
    for t in GRID:
        r = row(gold, [x >= t for x in p_int], f"P(interaction) >= {t}")
        rows.append({"threshold": t, **r})
    chosen, why = choose(rows)
    baselines = [row(gold, argmax_pos, "most probable label is not none (the rule before)"),
                 row(gold, [True] * len(gold), "every co-mention is an interaction")]
    by_source = {}
    for src in ("medquad", "pubmedqa"):
        idx = [i for i, s in enumerate(sentences) if s.item.source == src]
        by_source[src] = row([gold[i] for i in idx], [p_int[i] >= chosen["threshold"] for i in idx], src)
    result = {
        "benchmark": "eval/benchmarks/ddi-comention",
        "model": args.model,
        "sentences": len(sentences),
        "stated": sum(gold),
        "rule": (f"the lowest threshold of the grid {GRID[0]}, {GRID[1]}, ..., {GRID[-1]} with precision >= "
                 f"{TARGET_PRECISION} and at least {MIN_PREDICTED} predicted, else the highest F1; here: {why}"),
        "chosen": chosen,
        "current_default": REPORT_THRESHOLD,
        "thresholds": rows,
        "baselines": baselines,
        "by_source_at_chosen": by_source,
        "per_sentence": [{"id": s.item.id, "label": s.item.label, "p_interaction": round(p, 4)}
                         for s, p in zip(sentences, p_int)],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), torch threads 1",
        "seconds": round(seconds, 1),
    }
    print(f"{len(sentences)} sentences, {sum(gold)} stated; model {args.model}; {seconds:.1f} s")
    print(f"{'rule':<52} {'pred':>4} {'tp':>3} {'P':>5} {'P 95% CI':>13} {'R':>5} {'F1':>5}")
    for r in rows + baselines:
        ci = f"[{r['precision_ci95'][0]:.2f}, {r['precision_ci95'][1]:.2f}]"
        print(f"{r['rule']:<52} {r['predicted']:>4} {r['tp']:>3} {r['precision']:>5.2f} {ci:>13} "
              f"{r['recall']:>5.2f} {r['f1']:>5.2f}")
    print(f"chosen threshold {chosen['threshold']} ({why}): precision {chosen['precision']:.2f}, "
          f"recall {chosen['recall']:.2f}")
    if args.show:
        for s, p in sorted(zip(sentences, p_int), key=lambda x: -x[1]):
            print(f"{s.item.id} {s.item.label:<10} {p:.3f} [{s.item.drug1.name} | {s.item.drug2.name}] {s.text[:160]}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
