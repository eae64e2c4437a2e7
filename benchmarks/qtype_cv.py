"""Cross-validated second stage of the question-type classifier on LiveQA's real questions.

For each of the 5 folds of eval/splits/liveqa.json: continue the MedQuAD model (``--base``) on the
other four folds plus a few MedQuAD questions per type (``python -m kbqa.intent.train_qtype --liveqa``),
then type the held fold's questions with the full detector (rules included, kbqa.intent.detect). The
held-fold predictions of all 5 folds are scored together (accuracy: the prediction is one of the
question's annotated types, as benchmarks/qtype.py). ``--final OUT`` then trains on all 5 folds: the
model to commit (its LiveQA figure is this cross-validated one, never its own training questions).

    OMP_NUM_THREADS=1 python benchmarks/qtype_cv.py --base /tmp/qtype-medquad --work /tmp/qtype-cv --final models/qtype
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--final", default=None)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--mix", type=int, default=15)
    ap.add_argument("--out", default=None, help="write the CV figures (JSON) here")
    args = ap.parse_args()

    from kbqa.corpus.liveqa import read_folder
    from kbqa.intent import detect
    from kbqa.intent.train_qtype import main as train
    from kbqa.intent.types import from_liveqa
    from kbqa.paths import load_split
    from benchmarks.qtype import _metrics

    folds = load_split("eval/splits/liveqa.json")["folds"]
    live = {q.qid: q for q in read_folder(DATA / "liveqa_train")}
    common = ["--base", args.base, "--liveqa", str(DATA / "liveqa_train"), "--epochs", str(args.epochs),
              "--lr", str(args.lr), "--mix", str(args.mix), "--batch-size", "16"]
    from kbqa.corpus.medquad import iter_typed_questions

    docs = {q.pair_id: {"meta": {"focus": q.focus, "collection": q.collection}}
            for q in iter_typed_questions(DATA / "medquad") if q.answered}
    lexicon = detect.build_lexicon(docs)
    rows = []
    for k, held in enumerate(folds):
        out = Path(args.work) / f"fold{k}"
        others = ",".join(str(n) for n in range(len(folds)) if n != k)
        train([str(DATA / "medquad"), "--out", str(out), "--train-folds", others, *common])
        model = detect.TypeModel.load(out)
        qs = [live[i] for i in held]
        for q, it in zip(qs, detect.detect_intents([q.text for q in qs], lexicon, model)):
            rows.append({"id": q.qid, "fold": k, "gold": [from_liveqa(s.qtype) for s in q.subs], "pred": it.type,
                         "confidence": round(it.confidence, 4), "source": it.source})
        print(f"fold {k}: {sum(r['pred'] in r['gold'] for r in rows if r['fold'] == k)}/{len(held)}", file=sys.stderr)
    gold = [r["pred"] if r["pred"] in r["gold"] else r["gold"][0] for r in rows]
    m = _metrics(gold, [r["pred"] for r in rows])
    single = [r["pred"] in r["gold"] for r in rows if len(set(r["gold"])) == 1]
    m.update(accuracy=sum(r["pred"] in r["gold"] for r in rows) / len(rows), accuracy_single=sum(single) / len(single),
             majority=Counter(gold).most_common(1)[0][1] / len(rows), command=" ".join(sys.argv),
             by_fold=[sum(r["pred"] in r["gold"] for r in rows if r["fold"] == k) / len(f) for k, f in enumerate(folds)])
    # calibration of the held-fold confidences: ECE over 10 equal-width bins
    from kbqa.evaluate.metrics import expected_calibration_error as ece
    m["ece"] = float(ece([r["confidence"] for r in rows], [r["pred"] in r["gold"] for r in rows]))
    print(json.dumps({k: m[k] for k in ("n", "accuracy", "macro_f1", "accuracy_single", "majority", "by_fold", "ece")}))
    if args.out:
        Path(args.out).write_text(json.dumps(m, indent=1) + "\n")
        Path(args.out).with_suffix(".rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.final:
        train([str(DATA / "medquad"), "--out", args.final, "--train-folds", "0,1,2,3,4", *common])


if __name__ == "__main__":
    main()
