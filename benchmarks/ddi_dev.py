"""DDI 2013 dev benchmark: the fine-tuned model next to a TF-IDF + logistic-regression baseline.

Both see the same pairs (the model as it was trained: blinded or entity markers; the baseline the
blinded sentences, DRUG1/DRUG2/DRUGN) of the same split (eval/splits/ddi2013.json,
by document) and are scored with the same DDIExtraction 2013 measure (micro-F1 over mechanism /
effect / advise / int; filtered pairs count as predicted ``none``). Also reports inference speed.

    nice -n 5 python benchmarks/ddi_dev.py --model models/ddi --out /tmp/ddi_dev.json

The model is scored with its saved ``none_weight`` and with each ``--none-weights`` value
(prior correction for training on a fraction of the negatives; see kbqa.ddi.model.reweight_none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/ddi")
    ap.add_argument("--data", default="../shared/data/ddi2013/Train")
    ap.add_argument("--split", default="eval/splits/ddi2013.json")
    ap.add_argument("--none-weights", default="1", help="comma-separated extra none_weight values to report")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    from kbqa.ddi.blind import crop, pair_examples, pair_marks
    from kbqa.ddi.corpus import NEGATIVE, load_split, read_corpus, split_docs
    from kbqa.ddi.evaluate import score
    from kbqa.ddi.model import DDIModel, reweight_none

    train_docs, dev_docs = split_docs(read_corpus(args.data), load_split(args.split))
    dev = pair_examples(dev_docs)
    gold = [e.label for e in dev]
    keep = [i for i, e in enumerate(dev) if not e.filtered]
    results: dict[str, dict] = {}

    def predictions(labels: list[str], proba: np.ndarray) -> list[str]:
        pred = [NEGATIVE] * len(dev)
        for i, row in zip(keep, proba.argmax(1)):
            pred[i] = labels[int(row)]
        return pred

    model = DDIModel.load(args.model)
    import torch

    # the model sees the pairs as it was trained (blinded or marked); the baseline always blinded
    shown = pair_examples(dev_docs, style=model.entity_style)
    marks = pair_marks(model.entity_style)
    started = time.perf_counter()
    raw = model.classifier.predict_proba([(crop(shown[i].text, model.max_words, marks=marks), None) for i in keep],
                                         batch_size=64)
    seconds = time.perf_counter() - started
    speed = {"pairs": len(keep), "seconds": round(seconds, 1), "pairs_per_second": round(len(keep) / seconds, 1),
             "torch_threads": torch.get_num_threads()}
    print(f"model: {len(keep)} pairs in {seconds:.1f}s = {speed['pairs_per_second']} pairs/s", flush=True)
    weights = sorted({model.none_weight, *(float(w) for w in args.none_weights.split(",") if w)})
    for w in weights:
        name = f"model (none_weight={w:g})" + (" [saved]" if w == model.none_weight else "")
        results[name] = score(gold, predictions(model.labels, reweight_none(raw, model.labels, w))).to_dict()

    if not args.no_baseline:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        train = [e for e in pair_examples(train_docs) if not e.filtered]
        for cw in (None, "balanced"):
            started = time.perf_counter()
            vec = TfidfVectorizer(ngram_range=(1, 3), min_df=2, sublinear_tf=True)
            x = vec.fit_transform([crop(e.text) for e in train])
            clf = LogisticRegression(C=10.0, max_iter=3000, class_weight=cw)
            clf.fit(x, [e.label for e in train])
            proba = clf.predict_proba(vec.transform([crop(dev[i].text) for i in keep]))
            name = f"baseline tfidf+logreg (class_weight={cw})"
            results[name] = score(gold, predictions(list(clf.classes_), proba)).to_dict()
            print(f"{name}: trained on {len(train)} pairs in {time.perf_counter() - started:.1f}s", flush=True)

    print(f"\nDDI 2013 dev ({len(dev_docs)} documents, {len(dev)} pairs; split {args.split})")
    print("| system | micro-F1 | P | R | mechanism | effect | advise | int |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        per = " | ".join(f"{100 * r['per_type'][t]['f1']:.1f}" for t in ("mechanism", "effect", "advise", "int"))
        print(f"| {name} | {100 * r['micro_f1']:.1f} | {100 * r['micro_precision']:.1f} | "
              f"{100 * r['micro_recall']:.1f} | {per} |")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared), no GPU"
    print(f"\nspeed: {speed['pairs_per_second']} pairs/s ({machine}, torch threads {speed['torch_threads']})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"command": "python " + " ".join(sys.argv), "model": args.model, "split": args.split, "machine": machine, "speed": speed,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
