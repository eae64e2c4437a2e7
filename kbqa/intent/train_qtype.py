"""The training tables of the question-type classifier (``models/qtype``), for ``kbqa train classifier``.

The classifier is trained in two stages by the general classifier command (kbqa.classify.train); this
module only writes what it reads: JSONL tables with ``id``, ``text`` (what the classifier reads,
:func:`kbqa.intent.detect.model_text`) and ``label`` (the documented type set, kbqa.intent.types), and
split files ``{"train": [ids], "dev": [ids]}`` (``--split``).

``medquad`` (stage 1): every typed MedQuAD question (kbqa.corpus.medquad.iter_typed_questions, answered
or not) of the ``train`` part of eval/splits/qtype.json (split by focus), at most ``--cap`` per type (seeded
draw: MedQuAD's questions are templated, thousands per template), plus synthetic template questions for
the types MedQuAD lacks (:func:`synthetic`); dev: the split's ``dev`` part plus synthetic questions made with
dev-part names. Also ``medicines.txt`` (the focus finder's medicine names, shipped with the model)::

    python -m kbqa.intent.train_qtype medquad ../shared/data/medquad --out DIR
    kbqa train classifier --data DIR/medquad.jsonl --split DIR/medquad-split.json --out DIR/stage1 ...

``liveqa`` (stage 2): LiveQA's real questions of the chosen folds of eval/splits/liveqa.json (each row
repeated ``--repeat`` times; labelled with the first sub-question's type, or one row per distinct type with
``--labels all``) plus ``--mix`` MedQuAD train questions per type and a few synthetic ones; the held folds go
to ``liveqa-held.jsonl`` (with every annotated type in ``types``) for scoring; ``--dev-fraction`` holds a
stratified share of the training folds' questions out as dev (``liveqa-split.json``)::

    python -m kbqa.intent.train_qtype liveqa ../shared/data/liveqa_train --medquad ../shared/data/medquad \
        --folds 0,1,2,3,4 --out DIR
    kbqa train classifier --data DIR/liveqa-train.jsonl --base DIR/stage1 --no-dev ... --out models/qtype

README (question types) and models/qtype/MODEL_CARD.md give the exact commands of the committed model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kbqa.intent.types import TYPES, from_liveqa, from_medquad

LABELS = sorted(t for t in TYPES if t != "yes_no")  # yes_no is the question's form (kbqa.read.question), not learnt
MEDICINE_COLLECTIONS = ("MPlusDrugs", "MPlusHerbsSupplements")

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


def synthetic(medicines: list[str], conditions: list[str], per_type: int, seed: int) -> list[tuple[str, str]]:
    """``per_type`` (text, label) questions per templated type, names drawn with ``seed`` (case varied as
    people write)."""
    rng = random.Random(seed)
    out = []
    for label, templates in _TEMPLATES.items():
        for _ in range(per_type):
            a, b = rng.sample(medicines, 2)
            text = rng.choice(templates).format(a=a, b=b, c=rng.choice(conditions))
            out.append((text.lower() if rng.random() < 0.3 else text, label))
    return out


def _row(rid: str, text: str, label: str, **extra: Any) -> dict[str, Any]:
    from kbqa.intent.detect import model_text

    return {"id": rid, "text": model_text(text), "label": label, **extra}


def _typed_parts(folder: str | Path, split: str) -> dict[str, list]:
    from kbqa.corpus.medquad import iter_typed_questions
    from kbqa.paths import load_split

    parts = load_split(split)
    part_of = {i: p for p in ("train", "dev", "test") for i in parts.get(p, [])}
    by_part: dict[str, list] = defaultdict(list)
    for q in iter_typed_questions(folder):
        if q.pair_id not in part_of:
            raise SystemExit(f"{q.pair_id} is in {folder} but not in the split {split}: wrong data folder or split")
        by_part[part_of[q.pair_id]].append(q)
    return by_part


def _names(questions: Iterable[Any], medicine: bool) -> list[str]:
    return sorted({q.focus for q in questions if q.focus and (q.collection in MEDICINE_COLLECTIONS) == medicine})


def medquad_rows(by_part: dict[str, list], cap: int, seed: int, synthetic_per_type: int,
                 part: str = "train") -> list[dict[str, Any]]:
    """At most ``cap`` questions per type of ``part`` (seeded draw) plus ``synthetic_per_type`` synthetic
    questions per templated type, made with that part's names."""
    rng = random.Random(seed)
    per_type: dict[str, list] = defaultdict(list)
    for q in by_part[part]:
        per_type[from_medquad(q.qtype)].append(q)
    rows = []
    for label in sorted(per_type):
        items = per_type[label]
        for q in (rng.sample(items, cap) if len(items) > cap else items):
            rows.append(_row(q.pair_id, q.question, label))
    for n, (text, label) in enumerate(synthetic(_names(by_part[part], True), _names(by_part[part], False),
                                                synthetic_per_type, seed)):
        rows.append(_row(f"synthetic-{part}-{seed}-{n}", text, label))
    return rows


def write_table(rows: Sequence[dict[str, Any]], path: Path) -> str:
    """Write JSONL rows; returns their sha256 (of the file's bytes)."""
    from kbqa.files import write_atomic
    from kbqa.jsonlines import dumps_jsonl

    text = dumps_jsonl(list(rows), ensure_ascii=False)
    write_atomic(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_split(train: Sequence[str], dev: Sequence[str], path: Path) -> None:
    from kbqa.files import write_atomic

    write_atomic(path, json.dumps({"train": list(train), "dev": list(dev)}) + "\n")


def write_medicines(folder: str | Path, out_dir: str | Path) -> Path:
    """``medicines.txt``: the topics of MedQuAD's medicine collections (MPlusDrugs, MPlusHerbsSupplements),
    one a line, sorted: the focus finder's medicine names (kbqa.intent.focus)."""
    from kbqa.corpus.medquad import iter_typed_questions

    names = sorted({q.focus for q in iter_typed_questions(folder)
                    if q.collection in ("MPlusDrugs", "MPlusHerbsSupplements") and q.focus}, key=lambda n: (n.lower(), n))
    dest = Path(out_dir) / "medicines.txt"
    dest.write_text("# MedQuAD medicine-collection topics (MPlusDrugs, MPlusHerbsSupplements), CC BY 4.0\n"
                    + "\n".join(names) + "\n", encoding="utf-8")
    return dest


def prepare_medquad(args: argparse.Namespace) -> dict[str, Any]:
    by_part = _typed_parts(args.data, args.split)
    n_syn = max(50, args.cap // 3) if args.synthetic is None else args.synthetic
    train = medquad_rows(by_part, args.cap, args.seed, n_syn)
    random.Random(args.seed).shuffle(train)
    dev = medquad_rows(by_part, 10**9, args.seed + 1, 40, part="dev")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sha = write_table(train + dev, out / "medquad.jsonl")
    write_split([r["id"] for r in train], [r["id"] for r in dev], out / "medquad-split.json")
    write_medicines(args.data, out)
    return {"table": str(out / "medquad.jsonl"), "sha256": sha, "split": str(out / "medquad-split.json"),
            "train": len(train), "dev": len(dev), "cap_per_type": args.cap, "synthetic_per_type": n_syn,
            "train_labels": dict(sorted(Counter(r["label"] for r in train).items()))}


def liveqa_rows(folder: str | Path, ids: set[str], labels: str = "first", repeat: int = 1) -> list[dict[str, Any]]:
    """LiveQA questions of ``ids`` as the classifier reads them; ``labels``: ``first`` (the first
    sub-question's type) or ``all`` (one row per distinct annotated type); each row ``repeat`` times (ids
    ``QID``, ``QID~2``, ...). ``types`` holds every annotated type (for scoring)."""
    from kbqa.corpus.liveqa import read_folder

    rows = []
    for q in read_folder(folder):
        if not q.subs or q.qid not in ids:
            continue
        types = list(dict.fromkeys(from_liveqa(s.qtype) for s in q.subs))
        for k, label in enumerate(types if labels == "all" else types[:1]):
            for r in range(repeat):
                suffix = (f"~{label}" if k else "") + (f"~{r + 1}" if r else "")
                rows.append(_row(q.qid + suffix, q.text, label, types=types, question=q.qid))
    return rows


def prepare_liveqa(args: argparse.Namespace) -> dict[str, Any]:
    from kbqa.paths import load_split

    folds = load_split("eval/splits/liveqa.json")["folds"]
    chosen = set(range(len(folds))) if args.folds == "all" else {int(f) for f in args.folds.split(",") if f.strip()}
    if not chosen or not chosen <= set(range(len(folds))):
        raise SystemExit(f"--folds {args.folds}: pick among 0..{len(folds) - 1}, or 'all'")
    train_ids = {q for n, fold in enumerate(folds) if n in chosen for q in fold}
    held_ids = {q for n, fold in enumerate(folds) if n not in chosen for q in fold}
    dev_ids: set[str] = set()
    if args.dev_fraction:
        firsts = {r["question"]: r["label"] for r in liveqa_rows(args.data, train_ids)}
        by_label: dict[str, list[str]] = defaultdict(list)
        for qid, label in sorted(firsts.items()):
            by_label[label].append(qid)
        rng = random.Random(args.seed)
        for label in sorted(by_label):
            members = by_label[label]
            rng.shuffle(members)
            dev_ids.update(members[:round(args.dev_fraction * len(members))])
    live = liveqa_rows(args.data, train_ids - dev_ids, args.labels, args.repeat)
    dev = liveqa_rows(args.data, dev_ids)  # dev: each question once, its first type
    by_part = _typed_parts(args.medquad, args.split)
    mix = medquad_rows(by_part, args.mix, args.seed, max(1, args.mix // 3)) if args.mix else []
    train = live + mix
    random.Random(args.seed).shuffle(train)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"folds": sorted(chosen), "labels": args.labels, "repeat": args.repeat, "mix": args.mix,
                            "liveqa_rows": len(live), "mix_rows": len(mix)}
    info["train_table"] = str(out / "liveqa-train.jsonl")
    info["train_sha256"] = write_table([{k: r[k] for k in ("id", "text", "label")} for r in train + dev],
                                       out / "liveqa-train.jsonl")
    if dev:
        write_split([r["id"] for r in train], [r["id"] for r in dev], out / "liveqa-split.json")
        info |= {"split": str(out / "liveqa-split.json"), "dev_rows": len(dev)}
    if held_ids:
        held = liveqa_rows(args.data, held_ids)
        info["held_table"] = str(out / "liveqa-held.jsonl")
        info["held_sha256"] = write_table(held, out / "liveqa-held.jsonl")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    m = sub.add_parser("medquad", help="stage 1 tables: MedQuAD's typed questions (+ synthetic)")
    m.add_argument("data", help="the MedQuAD folder (../shared/data/medquad)")
    m.add_argument("--cap", type=int, default=800, help="at most this many training questions per type")
    m.add_argument("--synthetic", type=int, default=None, help="synthetic questions per templated type "
                   "(default: max(50, cap / 3))")
    ql = sub.add_parser("liveqa", help="stage 2 tables: LiveQA's real questions (+ a MedQuAD mix)")
    ql.add_argument("data", help="the LiveQA folder (../shared/data/liveqa_train)")
    ql.add_argument("--medquad", required=True, help="the MedQuAD folder (for the mix)")
    ql.add_argument("--folds", default="all", help="folds of eval/splits/liveqa.json to train on (e.g. 0,1,2,3; "
                    "default all); the others are written as liveqa-held.jsonl")
    ql.add_argument("--mix", type=int, default=15, help="MedQuAD train questions per type mixed in")
    ql.add_argument("--repeat", type=int, default=1, help="each LiveQA training row this many times (its weight)")
    ql.add_argument("--labels", choices=["first", "all"], default="first",
                    help="a question's label: its first sub-question's type, or one row per distinct type")
    ql.add_argument("--dev-fraction", type=float, default=0.0,
                    help="share of the training folds' questions (per label, seeded) held out as dev")
    for p in (m, ql):
        p.add_argument("--out", required=True, help="folder for the tables")
        p.add_argument("--split", default="qtype", help="MedQuAD split (default eval/splits/qtype.json)")
        p.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    info = prepare_medquad(args) if args.stage == "medquad" else prepare_liveqa(args)
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
