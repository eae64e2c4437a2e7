"""Reader benchmark on the PubMedQA dev PMIDs (eval/splits/pubmedqa.json), majority baseline in the same run.

    nice -n 5 python benchmarks/reader_pubmedqa.py [--reader models/reader] [--k 10] \
        [--index /tmp/kbqa_pubmedqa_openbook] [--out READER/benchmark_pubmedqa.json]

* reasoning-required: question + gold contexts (no conclusion) -> accuracy, macro-F1
* open-book: all 500 PubMedQA abstracts (with conclusions) indexed with KnowledgeBase.build, each dev
  question asked over the index -> accuracy, macro-F1, gold-abstract hit rate in the top k;
  plus ablations from the same reader outputs (verdict from the selector's most conclusion-like
  sentences or from whole passages instead of the best document's last sentences, top-1 passage,
  gold abstract's passages only)
* open-book with the answer absent: the dev questions over the 400 train abstracts only (no dev
  abstract indexed) -> how often `ask` still answers rather than abstains, and its confidence
* coverage-accuracy of abstention at the reader's calibrated threshold and at fixed coverages, and the
  expected calibration error (10 bins) of the confidences reported
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "pubmedqa" / "pqal_traindev.json"


def scores(gold: list[str], pred: list[str], labels: list[str]) -> dict:
    """Accuracy and macro-F1 (kbqa.evaluate.metrics, as `kbqa eval` scores answers)."""
    from kbqa.evaluate import metrics as M

    return {"n": len(gold), "accuracy": round(M.accuracy(gold, pred), 4),
            "macro_f1": round(M.macro_f1(gold, pred), 4)}


def coverage_table(gold: list[str], probs: np.ndarray, labels: list[str], threshold: float) -> dict:
    """Accuracy at fixed coverages (most confident first), at ``threshold``, and the ECE of ``probs``:
    kbqa.evaluate.metrics' coverage curve, selective accuracy and ECE (10 bins)."""
    from kbqa.evaluate import metrics as M

    pred, conf = [labels[i] for i in probs.argmax(1)], probs.max(1).tolist()
    correct = [g == p for g, p in zip(gold, pred)]
    abstained = [c < threshold - 1e-9 for c in conf]
    m = M.answer_metrics(gold, pred, conf, abstained, labels)
    return {"ece": round(m["ece"], 4),
            "accuracy_at_coverage": {f"{cov:.1f}": round(M.accuracy_at_coverage(conf, correct, cov), 4)
                                     for cov in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)},
            "calibrated_threshold": {"threshold": round(threshold, 4), "coverage": round(m["coverage"], 4),
                                     "accuracy_answered": round(m["selective_accuracy"], 4) if m["coverage"] else None}}


def off_topic_share(answers: list) -> float:
    """Share of answers abstained because the best document lacks the question's key terms."""
    return round(float(np.mean([a.provenance.get("reason", "").startswith("insufficient evidence")
                                for a in answers])), 4)


def main() -> None:
    from kbqa.read import data as rdata
    from kbqa.read.aggregate import AggregationParams, aggregate, dedupe
    from kbqa.read.answer import answer_from_hits, index_idf
    from kbqa.read.reader import Reader

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--index", default="/tmp/kbqa_pubmedqa_openbook")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", default=None, help="results JSON (default: benchmark_pubmedqa.json in the reader folder)")
    ap.add_argument("--skip-open-book", action="store_true")
    args = ap.parse_args()

    items = rdata.load_pubmedqa(args.data)
    split = rdata.load_split()
    train, dev = rdata.split_items(items, split["train"]), rdata.split_items(items, split["dev"])
    gold = [it.label for it in dev]
    reader = Reader.load(args.reader)
    labels = reader.labels
    majority = Counter(it.label for it in train).most_common(1)[0][0]
    report: dict = {
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), shared with other jobs, no GPU",
        "reader": args.reader, "reader_sha256": reader.checksum, "calibration": dataclasses.asdict(reader.calibration),
        "split": "eval/splits/pubmedqa.json dev (100 PMIDs)",
        "majority_baseline": {"label": majority, **scores(gold, [majority] * len(gold), labels)},
    }

    t0 = time.time()
    probs = reader.predict_proba([(e.text, e.text_pair) for e in rdata.pubmedqa_examples(dev, "reasoning")], progress=True)
    pred = [labels[i] for i in probs.argmax(1)]
    report["reasoning_required"] = {**scores(gold, pred, labels), "seconds": round(time.time() - t0, 1),
                                    **coverage_table(gold, probs, labels, reader.calibration.threshold)}
    print("reasoning-required", json.dumps(report["reasoning_required"]), flush=True)

    if not args.skip_open_book:
        from kbqa.pipeline import KnowledgeBase

        t0 = time.time()
        index = Path(args.index)
        kb = KnowledgeBase.load(index) if index.is_dir() and any(index.iterdir()) else \
            KnowledgeBase.build([args.data], index, progress=True)
        build_s = time.time() - t0
        t0 = time.time()
        hits = kb.search_many([it.question for it in dev], k=args.k)
        # every question's distinct passages read in one batched pass (length-sorted), then aggregated
        kept = [dedupe(h) for h in hits]
        flat = reader.predict_proba([(it.question, h.text) for it, hs in zip(dev, kept) for h in hs], progress=True)
        bounds = np.cumsum([0] + [len(hs) for hs in kept])
        idf = index_idf(kb)  # key terms weighted as `kbqa ask` weighs them
        answers = [answer_from_hits(it.question, h, reader, highlight_top=0, probs=flat[a:b], idf=idf)
                   for it, h, a, b in zip(dev, hits, bounds[:-1], bounds[1:])]
        whole = [answer_from_hits(it.question, h, reader, highlight_top=0, probs=flat[a:b], idf=idf,
                                  params=AggregationParams(read_documents=0))
                 for it, h, a, b in zip(dev, hits, bounds[:-1], bounds[1:])]
        by_selector = [answer_from_hits(it.question, h, reader, highlight_top=0, probs=flat[a:b], idf=idf,
                                        params=AggregationParams(read_from="selector"))
                       for it, h, a, b in zip(dev, hits, bounds[:-1], bounds[1:])]
        pred = [a.verdict for a in answers]
        hit_rate = float(np.mean([any(h.doc_id == it.pmid for h in hs) for it, hs in zip(dev, hits)]))
        top1_doc = float(np.mean([bool(hs) and hs[0].doc_id == it.pmid for it, hs in zip(dev, hits)]))
        # ablations from the same reader outputs: the top passage alone; the gold abstract's passages only
        top1 = [a.evidence and max(a.evidence, key=lambda e: e.hit.score).probabilities for a in answers]
        pred_top1 = [max(p, key=p.get) if p else "maybe" for p in top1]
        oracle = []
        for it, a in zip(dev, answers):
            ev = [e for e in a.evidence if e.hit.doc_id == it.pmid]
            oracle.append(labels[int(np.argmax(aggregate(np.array([[e.probabilities[x] for x in labels] for e in ev]),
                                                         [e.hit.score for e in ev])))] if ev else "maybe")
        report["open_book"] = {
            **scores(gold, pred, labels), "k": args.k,
            "gold_abstract_hit_rate": round(hit_rate, 4), "gold_abstract_top1": round(top1_doc, 4),
            "chunks_indexed": len(kb), "build_seconds": round(build_s, 1), "answer_seconds": round(time.time() - t0, 1),
            "verdict_from": (f"the last {AggregationParams().selected_sentences} sentences of the best document"
                             if reader.selector is not None else "whole passages"),
            "ablation_selector_sentences": scores(gold, [a.verdict for a in by_selector], labels),
            "ablation_whole_passages": scores(gold, [a.verdict for a in whole], labels),
            "ablation_top1_passage": scores(gold, pred_top1, labels),
            "ablation_gold_abstract_passages_only": scores(gold, oracle, labels),
            "passages_read_mean": round(float(np.mean([len(h) for h in kept])), 2),
            "answered_share": round(float(np.mean([not a.abstained for a in answers])), 4),
            "abstained_insufficient_evidence": off_topic_share(answers),
            # the calibration the verdicts used (the concluding sentences' own, when the reader has one)
            **coverage_table(gold, np.array([[a.probabilities[x] for x in labels] for a in answers]), labels,
                             answers[0].provenance["threshold"]),
        }
        print("open-book", json.dumps(report["open_book"]), flush=True)

        # the same questions over literature that lacks their answer: the 400 train abstracts only
        nogold = Path(args.index + "-without-dev")
        if not (nogold.is_dir() and any(nogold.iterdir())):
            raw = json.loads(Path(args.data).read_text())
            source = nogold.with_name(nogold.name + ".json")
            source.write_text(json.dumps({k: v for k, v in raw.items() if k in set(split["train"])}))
            KnowledgeBase.build([str(source)], nogold, progress=True)
        kb_nogold = KnowledgeBase.load(nogold)
        absent = [answer_from_hits(it.question, h, reader, highlight_top=0, idf=index_idf(kb_nogold))
                  for it, h in zip(dev, kb_nogold.search_many([it.question for it in dev], k=args.k))]
        conf_absent = np.array([a.confidence for a in absent])
        report["open_book_answer_absent"] = {
            "n": len(absent), "chunks_indexed": len(kb_nogold),
            "answered_share": round(float(np.mean([not a.abstained for a in absent])), 4),
            "abstained_insufficient_evidence": off_topic_share(absent),
            "mean_confidence": round(float(conf_absent.mean()), 4),
            "mean_confidence_answer_present": round(float(np.mean([a.confidence for a in answers])), 4),
            "note": "no dev abstract indexed: every verdict reads an unrelated document; answered = not abstained",
        }
        print("open-book, answer absent", json.dumps(report["open_book_answer_absent"]), flush=True)

    out = Path(args.out or Path(args.reader) / "benchmark_pubmedqa.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
