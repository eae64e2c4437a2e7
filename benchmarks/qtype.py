"""Question type and focus: accuracy and macro-F1 of the question-type classifier (kbqa.intent) on the
held-out MedQuAD questions (``test`` part of eval/splits/qtype.json, split by focus) and on LiveQA's 446
real consumer questions (``../shared/data/liveqa_train``, their annotated types mapped onto the type set
by kbqa.intent.types.LIVEQA; never trained on); and the focus found on LiveQA.

LiveQA: a question's text is what the person sent (subject + message); most have one sub-question,
some several with different types. A prediction is right when it is one of the question's annotated
types (``accuracy``); ``accuracy_single`` counts the 415 single-type questions only. For macro-F1 the
gold label is the predicted type when it is among the annotated ones, else the first sub-question's.
Focus: found when a predicted focus and an annotated one share their normalised words (one holds the
other: "migraine" / "chronic migraine"); names known = the foci of MedQuAD's answered pairs (what an
index of MedQuAD knows) plus the shipped medicine names.

    python benchmarks/qtype.py [--model models/qtype] [--out benchmarks/results/qtype.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _metrics(gold: list[str], pred: list[str]) -> dict:
    from kbqa.read.train import classification_metrics

    labels = sorted(set(gold) | set(pred))
    m = classification_metrics([labels.index(g) for g in gold], [labels.index(p) for p in pred], labels)
    m.pop("confusion")
    # macro_f1 averages every label seen (a type predicted but never gold scores 0); this one the gold types only
    m["macro_f1_gold_types"] = sum(m["f1"][g] for g in set(gold)) / len(set(gold))
    m["f1"] = {k: round(v, 3) for k, v in m["f1"].items()}
    m["gold_counts"] = dict(Counter(gold).most_common())
    return m


def _same(a: str, b: str) -> bool:
    from kbqa.intent.focus import words

    wa, wb = " ".join(w for w, _, _ in words(a)), " ".join(w for w, _, _ in words(b))
    return bool(wa and wb) and (f" {wa} " in f" {wb} " or f" {wb} " in f" {wa} ")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "qtype"))
    ap.add_argument("--no-rules", action="store_true", help="the classifier alone (no phrase rules)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from kbqa.corpus.liveqa import read_folder
    from kbqa.corpus.medquad import iter_typed_questions
    from kbqa.intent import detect
    from kbqa.intent.types import from_liveqa, from_medquad
    from kbqa.paths import split_part

    if args.no_rules:
        detect.rule_type = lambda text, medicines=0: None
    model = detect.load_type_model(args.model)
    questions = list(iter_typed_questions(DATA / "medquad"))
    docs = {q.pair_id: {"meta": {"focus": q.focus, "collection": q.collection}} for q in questions if q.answered}
    lexicon = detect.build_lexicon(docs)
    out: dict = {"model": args.model, "rules": not args.no_rules, "machine": platform.node(),
                 "command": " ".join(sys.argv), "lexicon_names": len(lexicon)}

    test = set(split_part("qtype", "test"))
    held = [q for q in questions if q.pair_id in test]
    t0 = time.perf_counter()
    intents = detect.detect_intents([q.question for q in held], lexicon, model)
    out["medquad_test"] = {**_metrics([from_medquad(q.qtype) for q in held], [i.type for i in intents]),
                           "seconds": round(time.perf_counter() - t0, 1)}

    live = read_folder(DATA / "liveqa_train")
    intents = detect.detect_intents([q.text for q in live], lexicon, model)
    right, gold, single, found, with_focus = 0, [], [], 0, 0
    rows = []
    for q, it in zip(live, intents):
        types = [from_liveqa(s.qtype) for s in q.subs]
        ok = it.type in types
        right += ok
        gold.append(it.type if ok else types[0])
        if len(set(types)) == 1:
            single.append(ok)
        foci = [s.focus for s in q.subs if s.focus]
        if foci:
            with_focus += 1
            hit = any(_same(f, g) for f in it.focus for g in foci)
            found += hit
        rows.append({"id": q.qid, "gold": types, "pred": it.type, "confidence": round(it.confidence, 3),
                     "source": it.source, "focus": list(it.focus), "gold_focus": foci})
    m = _metrics(gold, [i.type for i in intents])
    m.update(accuracy=right / len(live), accuracy_single=sum(single) / len(single), n_single=len(single),
             majority=Counter(gold).most_common(1)[0][1] / len(live),
             focus_found=found / max(with_focus, 1), n_with_focus=with_focus,
             focus_from_names=sum(any(k != "phrase" for k in i.focus_kinds) for i in intents) / len(live),
             by_source=dict(Counter(i.source for i in intents)))
    info = json.loads((Path(args.model) / "kbqa_train.json").read_text()).get("metadata", {})
    data = str(info.get("source", {}).get("data", ""))  # a `kbqa train classifier` folder's training table
    if info.get("stage") == "liveqa" or "liveqa" in Path(data).name:
        m["note"] = (f"this model trained on these questions ({data or info.get('liveqa_train_folds')}): "
                     "not a held-out figure; benchmarks/qtype_cv.py gives the cross-validated one")
    out["liveqa"] = m
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk in ("n", "accuracy", "macro_f1", "accuracy_single",
                                                                    "focus_found", "majority")}
                      for k, v in out.items() if isinstance(v, dict)}, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
        Path(args.out).with_suffix(".rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
