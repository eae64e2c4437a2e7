"""Seed spread of the reader recipe, and what averaging several seeds' outputs would give, on PubMedQA dev.

    python benchmarks/reader_seeds.py --reader models/reader --reader /tmp/rd_s1 --reader /tmp/rd_s2

For each reader folder (e.g. the training command rerun with ``--seed N``) and for the mean of their
logits (an ensemble: an upper bound for seed averaging within one model), prints accuracy and
macro-F1 on the dev PMIDs of eval/splits/pubmedqa.json, reading question + abstract without its
conclusion (reasoning-required) and question + conclusion (what `kbqa ask` reads from an index).
Majority baseline in the same run. Readers in fp32.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
DATA = ROOT.parent / "shared" / "data" / "pubmedqa" / "pqal_traindev.json"


def main() -> None:
    from reader_pubmedqa import scores  # this folder's PubMedQA benchmark: accuracy and macro-F1

    from kbqa.read import data as rdata
    from kbqa.read.reader import Reader

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", action="append", required=True, help="reader folder; repeat for each seed")
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()

    items = rdata.load_pubmedqa(args.data)
    split = rdata.load_split()
    train, dev = rdata.split_items(items, split["train"]), rdata.split_items(items, split["dev"])
    gold = [it.label for it in dev]
    inputs = {mode: [(e.text, e.text_pair) for e in rdata.pubmedqa_examples(dev, mode)]
              for mode in ("reasoning", "conclusion")}
    logits: dict[str, list[np.ndarray]] = {mode: [] for mode in inputs}
    labels: list[str] = []

    def read(z: np.ndarray) -> dict:
        return {k: v for k, v in scores(gold, [labels[i] for i in z.argmax(1)], labels).items() if k != "n"}

    rows = []
    for folder in args.reader:
        reader = Reader.load(folder, precision="fp32")
        if labels and reader.labels != labels:
            raise SystemExit(f"{folder}: label map {reader.labels} differs from {labels}")
        labels = reader.labels
        row: dict = {"reader": folder, "sha256": reader.checksum[:12]}
        for mode, pairs in inputs.items():
            z = reader.classifier.predict_logits(pairs)
            logits[mode].append(z)
            row[mode] = read(z)
        rows.append(row)
        print(json.dumps(row), flush=True)
    majority = Counter(it.label for it in train).most_common(1)[0][0]
    summary = {
        "n_dev": len(gold),
        "majority": {"label": majority, **read(np.tile(np.eye(len(labels))[labels.index(majority)], (len(gold), 1)))},
        **{f"{mode}_mean_over_readers": {k: round(float(np.mean([r[mode][k] for r in rows])), 4)
                                         for k in ("accuracy", "macro_f1")} for mode in inputs},
        **{f"{mode}_sd_over_readers": {k: round(float(np.std([r[mode][k] for r in rows], ddof=1)), 4)
                                       for k in ("accuracy", "macro_f1")} for mode in inputs if len(rows) > 1},
        **{f"{mode}_logit_ensemble": read(np.mean(logits[mode], axis=0)) for mode in inputs},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
