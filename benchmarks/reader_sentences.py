"""Which sentences `kbqa ask` reads: the verdict sentences and the highlight candidates, on PubMedQA dev.

    python benchmarks/reader_sentences.py [--index indexes/pubmedqa-dev-tuned] [--reader models/reader] \
        [--out benchmarks/results/reader_sentences.json]

For the 100 dev questions of eval/splits/pubmedqa.json asked over an index of the PubMedQA abstracts
(e.g. `kbqa index build eval/benchmarks/pubmedqa-dev/corpus.jsonl --index indexes/pubmedqa-dev-tuned
--preset fast`), it reports for the best-ranked document's retrieved sentences:

* conclusion coverage (no answer labels used): the share of the gold conclusion's sentences among
  the sentences read, for the selector's two most conclusion-like sentences and the last 1-3;
* verdict accuracy / macro-F1 when the reader reads each of those choices;
* highlight agreement: how often the 2- and 3-candidate highlight equals the sentence picked by
  reading every sentence, over the first five evidence passages of the first 60 questions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "pubmedqa" / "pqal_traindev.json"


def main() -> None:
    from kbqa.evaluate import metrics as M
    from kbqa.pipeline import KnowledgeBase
    from kbqa.read import data as rdata
    from kbqa.read.aggregate import dedupe
    from kbqa.text import sentence_spans
    from kbqa.read.answer import answer_from_hits
    from kbqa.read.reader import Reader

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default=str(ROOT / "indexes" / "pubmedqa-dev-tuned"))
    ap.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reader_sentences.json"))
    args = ap.parse_args()

    dev = rdata.split_items(rdata.load_pubmedqa(args.data), rdata.load_split()["dev"])
    gold = [it.label for it in dev]
    reader = Reader.load(args.reader)
    labels = reader.labels
    kb = KnowledgeBase.load(args.index)
    hits = kb.search_many([it.question for it in dev], k=10)

    docs = []  # the best document's retrieved sentences, in document order (as kbqa.read.answer reads them)
    for hs in hits:
        hs = dedupe(hs)
        at: dict[str, int] = {}
        for h in sorted((h for h in hs if h.doc_id == hs[0].doc_id), key=lambda h: h.start):
            for a, b in sentence_spans(h.text, lists=False):
                at.setdefault(h.text[a:b], h.start + a)
        docs.append(sorted(at, key=at.__getitem__))

    choices = {
        "selector_2": lambda s: reader.selector.pick(s, 2),
        "last_1": lambda s: range(max(0, len(s) - 1), len(s)),
        "last_2": lambda s: range(max(0, len(s) - 2), len(s)),
        "last_3": lambda s: range(max(0, len(s) - 3), len(s)),
    }
    report: dict = {"index": args.index, "reader": args.reader, "reader_sha256": reader.checksum,
                    "questions": len(dev), "sentence_choices": {}}
    for name, pick in choices.items():
        read = [" ".join(s[i] for i in sorted(pick(s))) for s in docs]
        coverage = np.mean([np.mean([it.long_answer[a:b] in text for a, b in sentence_spans(it.long_answer, lists=False)])
                            for it, text in zip(dev, read)])
        probs = reader.predict_proba([(it.question, t) for it, t in zip(dev, read)])
        pred = [labels[i] for i in probs.argmax(1)]
        row = {"conclusion_coverage": round(float(coverage), 4),
               "accuracy": round(M.accuracy(gold, pred), 4), "macro_f1": round(M.macro_f1(gold, pred), 4)}
        report["sentence_choices"][name] = row
        print(name, json.dumps(row), flush=True)

    every = [answer_from_hits(it.question, h, reader, highlight_candidates=0) for it, h in zip(dev[:60], hits[:60])]
    report["highlight_agreement_with_every_sentence"] = {}
    for m in (2, 3):
        same = total = 0
        for it, h, full in zip(dev[:60], hits[:60], every):
            few = answer_from_hits(it.question, h, reader, highlight_candidates=m)
            for a, b in zip(few.evidence[:5], full.evidence[:5]):
                total += 1
                same += a.highlight == b.highlight
        report["highlight_agreement_with_every_sentence"][f"{m}_candidates"] = round(same / total, 4)
    print("highlight agreement", json.dumps(report["highlight_agreement_with_every_sentence"]), flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
