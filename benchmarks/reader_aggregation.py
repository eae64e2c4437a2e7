"""Open-book aggregation sweep on the PubMedQA dev PMIDs: one reader pass, many AggregationParams.

    nice -n 5 python benchmarks/reader_aggregation.py [--reader models/reader] [--index /tmp/kbqa_pubmedqa_openbook]

Reads every dev question's top-k passages once, then scores verdicts for a small grid of
rank decay / score temperature / confidence power. Tuned on dev: the figures are optimistic.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from kbqa.evaluate import metrics as M
    from kbqa.pipeline import KnowledgeBase
    from kbqa.read import data as rdata
    from kbqa.read.aggregate import AggregationParams, aggregate, dedupe
    from kbqa.read.reader import Reader

    ap = argparse.ArgumentParser()
    ap.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "pubmedqa" / "pqal_traindev.json"))
    ap.add_argument("--index", default="/tmp/kbqa_pubmedqa_openbook", help="built by benchmarks/reader_pubmedqa.py")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    items = rdata.load_pubmedqa(args.data)
    dev = rdata.split_items(items, rdata.load_split()["dev"])
    gold = [it.label for it in dev]
    reader = Reader.load(args.reader)
    kb = KnowledgeBase.load(args.index)
    kept = [dedupe(h) for h in kb.search_many([it.question for it in dev], k=args.k)]
    flat = reader.predict_proba([(it.question, h.text) for it, hs in zip(dev, kept) for h in hs], progress=True)
    bounds = np.cumsum([0] + [len(hs) for hs in kept])
    rows = []
    for decay, temp, power in itertools.product((0.5, 0.7, 0.9, 1.0), (0.02, 0.05, 0.2), (0.0, 1.0, 3.0)):
        params = AggregationParams(rank_decay=decay, score_temperature=temp, confidence_power=power)
        pred = [reader.labels[int(np.argmax(aggregate(flat[a:b], [h.score for h in hs], params)))]
                for hs, a, b in zip(kept, bounds[:-1], bounds[1:])]
        rows.append({"rank_decay": decay, "score_temperature": temp, "confidence_power": power,
                     "accuracy": round(M.accuracy(gold, pred), 3), "macro_f1": round(M.macro_f1(gold, pred), 4)})
    rows.sort(key=lambda r: (-r["macro_f1"], -r["accuracy"]))
    default = AggregationParams()
    for r in rows[:8]:
        print(json.dumps(r))
    print("default", json.dumps(next(r for r in rows if (r["rank_decay"], r["score_temperature"], r["confidence_power"])
                                     == (default.rank_decay, default.score_temperature, default.confidence_power))))


if __name__ == "__main__":
    main()
