"""Train the question-type classifier (``models/qtype``) on MedQuAD's typed questions.

Data: every typed MedQuAD question (kbqa.corpus.medquad.iter_typed_questions, answered or not) of the
``train`` part of eval/splits/qtype.json (split by focus), its qtype mapped onto the type set
(kbqa.intent.types.MEDQUAD), at most ``--cap`` per type (seeded draw: MedQuAD's questions are templated,
thousands per template); plus synthetic template questions for the types MedQuAD lacks (``comparison``,
``alternatives``, ``stopping``, ``ingredients``; and more ``interactions``), filled in with medicine and
condition names of the train part (:func:`synthetic`). Dev (the kept epoch, calibration): the ``dev``
part. The fine-tuning is kbqa.read.train.train_classifier (kbqa.train_loop, the one loop); a
temperature is then fitted on dev and written to ``calibration.json``.

    OMP_NUM_THREADS=1 python -m kbqa.intent.train_qtype ../shared/data/medquad --out models/qtype
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from kbqa.intent.types import TYPES, from_medquad
from kbqa.read.classifier import Example

LABELS = [t for t in TYPES if t != "yes_no"]  # yes_no is the question's form (kbqa.read.question), not learnt
MAX_LENGTH = 48

_TEMPLATES = {
    "comparison": [
        "What is the difference between {a} and {b}?", "{a} vs {b}: which is better?", "Is {a} better than {b}?",
        "How does {a} compare to {b}?", "{a} or {b} for {c}?", "Which is stronger, {a} or {b}?",
        "Is {a} the same as {b}?", "Compare {a} and {b} for {c}", "Which works better for {c}: {a} or {b}?",
        "difference between {a} and {b}",
    ],
    "alternatives": [
        "What can I take instead of {a}?", "Is there an alternative to {a}?", "What are the alternatives to {a} for {c}?",
        "Is there something other than {a} I could use for {c}?", "substitute for {a}",
        "I can't tolerate {a}, what else can I take?", "What other drug can replace {a}?",
        "Are there natural alternatives to {a}?", "Is there a generic or cheaper replacement for {a}?",
    ],
    "stopping": [
        "How do I stop taking {a}?", "Can I stop {a} suddenly?", "What happens if I stop taking {a}?",
        "How to taper off {a}?", "withdrawal symptoms after stopping {a}", "How do I come off {a} safely?",
        "Is it safe to quit {a} cold turkey?", "How long does {a} withdrawal last?", "weaning off {a}",
    ],
    "ingredients": [
        "What are the ingredients of {a}?", "Does {a} contain gluten?", "What is in {a}?", "Is there lactose in {a}?",
        "inactive ingredients of {a}", "Does {a} contain sulfa?", "What is {a} made of?",
        "Is {a} made from pork gelatin?", "Does {a} have dyes or alcohol in it?",
    ],
    "interactions": [
        "Can I take {a} with {b}?", "Does {a} interact with {b}?", "Is it safe to take {a} and {b} together?",
        "Can I drink alcohol while taking {a}?", "{a} and {b} interaction", "Can {a} be taken with grapefruit juice?",
        "Does {b} affect how {a} works?", "Can I combine {a} with {b}?",
    ],
}


def synthetic(medicines: list[str], conditions: list[str], per_type: int, seed: int) -> list[Example]:
    """``per_type`` questions per templated type, names drawn with ``seed`` (case varied as people write)."""
    rng = random.Random(seed)
    out = []
    for label, templates in _TEMPLATES.items():
        for _ in range(per_type):
            a, b = rng.sample(medicines, 2)
            text = rng.choice(templates).format(a=a, b=b, c=rng.choice(conditions))
            out.append(Example(text.lower() if rng.random() < 0.3 else text, None, label))
    return out


def typed_examples(folder: str | Path, split: str, cap: int, seed: int,
                   synthetic_per_type: int | None = None) -> tuple[list[Example], list[Example], dict]:
    """(train, dev, info) from the MedQuAD tree and the split."""
    from kbqa.corpus.medquad import iter_typed_questions
    from kbqa.paths import load_split

    parts = load_split(split)
    part_of = {i: p for p in ("train", "dev", "test") for i in parts.get(p, [])}
    by_part: dict[str, list] = defaultdict(list)
    for q in iter_typed_questions(folder):
        if q.pair_id not in part_of:
            raise SystemExit(f"{q.pair_id} is in {folder} but not in the split {split}: wrong data folder or split")
        by_part[part_of[q.pair_id]].append(q)
    rng = random.Random(seed)
    per_type: dict[str, list[Example]] = defaultdict(list)
    for q in by_part["train"]:
        per_type[from_medquad(q.qtype)].append(Example(q.question, None, from_medquad(q.qtype)))
    train = []
    for label in sorted(per_type):
        items = per_type[label]
        train += rng.sample(items, cap) if len(items) > cap else items
    medicines = sorted({q.focus for q in by_part["train"] if q.collection in ("MPlusDrugs", "MPlusHerbsSupplements") and q.focus})
    conditions = sorted({q.focus for q in by_part["train"] if q.collection not in ("MPlusDrugs", "MPlusHerbsSupplements") and q.focus})
    n_syn = max(50, cap // 3) if synthetic_per_type is None else synthetic_per_type
    train += synthetic(medicines, conditions, n_syn, seed)
    dev = [Example(q.question, None, from_medquad(q.qtype)) for q in by_part["dev"]]
    dev_meds = sorted({q.focus for q in by_part["dev"] if q.collection == "MPlusDrugs" and q.focus})
    dev_conds = sorted({q.focus for q in by_part["dev"] if q.collection != "MPlusDrugs" and q.focus})
    dev += synthetic(dev_meds, dev_conds, 40, seed + 1)
    rng.shuffle(train)
    info = {"medquad_train_questions": len(by_part["train"]), "cap_per_type": cap, "synthetic_per_type": n_syn,
            "synthetic_types": sorted(_TEMPLATES), "train_labels": dict(sorted(Counter(e.label for e in train).items()))}
    return train, dev, info


def write_medicines(folder: str | Path, out_dir: str | Path) -> Path:
    """``medicines.txt``: the topics of MedQuAD's medicine collections (MPlusDrugs, MPlusHerbsSupplements),
    one a line, sorted: the focus finder's medicine names (kbqa.intent.focus)."""
    from kbqa.corpus.medquad import iter_typed_questions

    names = sorted({q.focus for q in iter_typed_questions(folder)
                    if q.collection in ("MPlusDrugs", "MPlusHerbsSupplements") and q.focus}, key=str.lower)
    dest = Path(out_dir) / "medicines.txt"
    dest.write_text("# MedQuAD medicine-collection topics (MPlusDrugs, MPlusHerbsSupplements), CC BY 4.0\n"
                    + "\n".join(names) + "\n", encoding="utf-8")
    return dest


def liveqa_examples(folder: str | Path, ids: set[str] | None = None) -> list[Example]:
    """LiveQA questions (all, or those of ``ids``) as the classifier reads them (kbqa.intent.detect.model_text),
    labelled with their first sub-question's type (kbqa.intent.types.LIVEQA)."""
    from kbqa.corpus.liveqa import read_folder
    from kbqa.intent.detect import model_text
    from kbqa.intent.types import from_liveqa

    return [Example(model_text(q.text), None, from_liveqa(q.subs[0].qtype))
            for q in read_folder(folder) if q.subs and (ids is None or q.qid in ids)]


def fit_temperature(logits, gold: list[int]) -> float:
    """The temperature minimising dev negative log-likelihood (grid, then refined)."""
    import numpy as np

    from kbqa.numeric import softmax

    def nll(t: float) -> float:
        p = softmax(logits / t)
        return float(-np.mean(np.log(np.clip(p[np.arange(len(gold)), gold], 1e-12, None))))

    grid = [0.5 + 0.1 * i for i in range(46)]
    best = min(grid, key=nll)
    fine = [best + 0.01 * i for i in range(-9, 10)]
    return round(min(fine, key=nll), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="the MedQuAD folder (../shared/data/medquad)")
    ap.add_argument("--out", default="models/qtype")
    ap.add_argument("--split", default="qtype")
    ap.add_argument("--base", default=None, help="base encoder folder (default: the bundled all-MiniLM-L6-v2)")
    ap.add_argument("--cap", type=int, default=1200, help="at most this many training questions per type")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=8e-5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--liveqa", default=None,
                    help="second stage: continue training --base (a MedQuAD qtype model) on these LiveQA questions "
                         "(../shared/data/liveqa_train) plus --mix MedQuAD train questions")
    ap.add_argument("--train-folds", default="0,1,2,3,4", help="with --liveqa: folds of eval/splits/liveqa.json trained on")
    ap.add_argument("--mix", type=int, default=60, help="with --liveqa: MedQuAD train questions per type mixed in")
    args = ap.parse_args(argv)
    if args.liveqa:
        return _second_stage(args)

    from kbqa.embed import bundled_model_path
    from kbqa.read.classifier import SequenceClassifier
    from kbqa.read.train import TrainParams, train_classifier

    train, dev, info = typed_examples(args.data, args.split, args.cap, args.seed)
    print(f"train {len(train)} dev {len(dev)}: {info['train_labels']}", file=sys.stderr)
    params = TrainParams(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=MAX_LENGTH,
                         seed=args.seed, class_weights="sqrt", select_metric="macro_f1", pooler_init="identity",
                         head_lr=max(args.lr, 1e-3))
    base = args.base or bundled_model_path()
    metrics = train_classifier(train, dev, LABELS, base, args.out, params,
                               metadata={"task": "qtype", "split": args.split, **info})
    clf = SequenceClassifier.load(args.out, device="cpu")
    logits = clf.predict_logits([(e.text, None) for e in dev])
    temperature = fit_temperature(logits, [LABELS.index(e.label) for e in dev])
    write_medicines(args.data, args.out)
    (Path(args.out) / "calibration.json").write_text(json.dumps({"temperature": temperature, "threshold": 0.0,
                                                                  "fitted_on": "qtype split dev part"}, indent=2) + "\n")
    print(json.dumps({"dev": {k: metrics[k] for k in ("accuracy", "macro_f1")}, "temperature": temperature}))
    return 0


def _second_stage(args: argparse.Namespace) -> int:
    """Continue a MedQuAD qtype model on real questions: LiveQA folds (the held folds are dev)."""
    from kbqa.paths import load_split
    from kbqa.read.classifier import SequenceClassifier
    from kbqa.read.train import TrainParams, train_classifier

    if not args.base:
        raise SystemExit("--liveqa needs --base: the MedQuAD qtype model to continue")
    folds = load_split("eval/splits/liveqa.json")["folds"]
    chosen = {int(f) for f in args.train_folds.split(",") if f.strip()}
    train_ids = {q for n, fold in enumerate(folds) if n in chosen for q in fold}
    held_ids = {q for n, fold in enumerate(folds) if n not in chosen for q in fold}
    train = liveqa_examples(args.liveqa, train_ids)
    dev = liveqa_examples(args.liveqa, held_ids) if held_ids else []
    medquad, _, _ = typed_examples(args.data, args.split, args.mix, args.seed, synthetic_per_type=max(1, args.mix // 3))
    train += medquad
    random.Random(args.seed).shuffle(train)
    params = TrainParams(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=MAX_LENGTH,
                         seed=args.seed, class_weights="sqrt", select_metric="accuracy")
    metrics = train_classifier(train, dev or None, LABELS, args.base, args.out, params,
                               metadata={"task": "qtype", "split": args.split, "stage": "liveqa",
                                         "liveqa_train_folds": sorted(chosen), "medquad_per_type": args.mix})
    write_medicines(args.data, args.out)
    cal_src = Path(args.base) / "calibration.json"
    if dev:
        clf = SequenceClassifier.load(args.out, device="cpu")
        logits = clf.predict_logits([(e.text, None) for e in dev])
        temperature = fit_temperature(logits, [LABELS.index(e.label) for e in dev])
        cal = {"temperature": temperature, "threshold": 0.0, "fitted_on": "held LiveQA folds"}
    else:
        cal = json.loads(cal_src.read_text()) if cal_src.is_file() else {"temperature": 1.0, "threshold": 0.0}
    (Path(args.out) / "calibration.json").write_text(json.dumps(cal, indent=2) + "\n")
    print(json.dumps({"dev": {k: metrics.get(k) for k in ("accuracy", "macro_f1")}, "calibration": cal}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
