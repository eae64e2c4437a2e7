"""Cross-validated second stage of the question-type classifier on LiveQA's real questions.

For each of the 5 folds of eval/splits/liveqa.json: write the stage-2 tables of the other four folds
(``python -m kbqa.intent.train_qtype liveqa --folds ...``), continue the stage-1 MedQuAD model (``--base``,
a ``kbqa train classifier`` folder) on them with ``kbqa train classifier`` (the options after ``--``), then
type the held fold's questions with the full detector (rules included, kbqa.intent.detect). The held-fold
predictions of all 5 folds are scored together (accuracy: the prediction is one of the question's
annotated types, as benchmarks/qtype.py). Nothing of the held fold is trained on, selects an epoch or fits
a weight. ``--final OUT`` then runs the same two commands on all 5 folds: the model to commit (its LiveQA
figure is this cross-validated one, never its own training questions).

    OMP_NUM_THREADS=1 python benchmarks/qtype_cv.py --base /tmp/qtype/stage1 --work /tmp/qtype/cv \\
        --out benchmarks/results/qtype_cv.json [--mix 15 --repeat 1 --labels first --dev-fraction 0] \\
        -- --epochs 3 --lr 5e-5 --head-lr 5e-5 --batch-size 16 --max-length 48 --class-weights sqrt \\
           --combine none --no-dev --temperature 1.2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def stage2(base: str, out: Path, folds: str, prep: list[str], train_args: list[str]) -> dict:
    """Write the stage-2 tables of ``folds`` under ``out/data`` and train ``out/model`` on them."""
    from kbqa.cli import main as kbqa
    from kbqa.intent.train_qtype import main as prepare

    data = out / "data"
    prepare(["liveqa", str(DATA / "liveqa_train"), "--medquad", str(DATA / "medquad"), "--folds", folds,
             "--out", str(data), *prep])
    train = ["train", "classifier", "--data", str(data / "liveqa-train.jsonl"), "--base", base,
             "--out", str(out / "model"), "--no-progress", *train_args]
    if (data / "liveqa-split.json").is_file():
        train += ["--split", str(data / "liveqa-split.json")]
    if kbqa(train) != 0:
        raise SystemExit(f"kbqa {' '.join(train)} failed")
    return json.loads((out / "model" / "calibration.json").read_text())


def main() -> None:
    argv = sys.argv[1:]
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="the stage-1 model (kbqa train classifier on MedQuAD)")
    ap.add_argument("--work", required=True, help="folder for each fold's tables and model")
    ap.add_argument("--final", default=None, help="then train on all 5 folds into this folder")
    ap.add_argument("--final-temperature", action="store_true",
                    help="with --final and --no-dev: calibrate it with the mean of the folds' held-fold temperatures")
    ap.add_argument("--mix", default="15")
    ap.add_argument("--repeat", default="1")
    ap.add_argument("--labels", default="first", choices=["first", "all"])
    ap.add_argument("--dev-fraction", default="0")
    ap.add_argument("--folds", default=None, help="only these folds (quick looks; the figure needs all 5)")
    ap.add_argument("--out", default=None, help="write the CV figures (JSON) here, and the rows beside it")
    args = ap.parse_args(argv)
    prep = ["--mix", args.mix, "--repeat", args.repeat, "--labels", args.labels, "--dev-fraction", args.dev_fraction]

    import numpy as np

    from benchmarks.qtype import _metrics
    from kbqa.corpus.liveqa import read_folder
    from kbqa.corpus.medquad import iter_typed_questions
    from kbqa.intent import detect
    from kbqa.intent.types import from_liveqa
    from kbqa.paths import load_split
    from kbqa.read.train_calibration import fit_temperature

    folds = load_split("eval/splits/liveqa.json")["folds"]
    live = {q.qid: q for q in read_folder(DATA / "liveqa_train")}
    docs = {q.pair_id: {"meta": {"focus": q.focus, "collection": q.collection}}
            for q in iter_typed_questions(DATA / "medquad") if q.answered}
    lexicon = detect.build_lexicon(docs)
    chosen = range(len(folds)) if args.folds is None else [int(f) for f in args.folds.split(",")]
    rows, temperatures, started = [], [], time.time()
    for k in chosen:
        held = folds[k]
        out = Path(args.work) / f"fold{k}"
        others = ",".join(str(n) for n in range(len(folds)) if n != k)
        stage2(args.base, out, others, prep, train_args)
        model = detect.load_type_model(out / "model")
        qs = [live[i] for i in held]
        # the temperature this fold's held questions would have chosen (for --final-temperature and the record)
        probs = model.predict_proba([detect.model_text(q.text) for q in qs])
        gold_first = [model.labels.index(from_liveqa(q.subs[0].qtype)) for q in qs]
        temperatures.append(fit_temperature(np.log(np.clip(probs, 1e-12, 1)), gold_first) * model.temperature)
        for q, it in zip(qs, detect.detect_intents([q.text for q in qs], lexicon, model)):
            rows.append({"id": q.qid, "fold": k, "gold": [from_liveqa(s.qtype) for s in q.subs], "pred": it.type,
                         "confidence": round(it.confidence, 4), "source": it.source})
        print(f"fold {k}: {sum(r['pred'] in r['gold'] for r in rows if r['fold'] == k)}/{len(held)}", file=sys.stderr)
    gold = [r["pred"] if r["pred"] in r["gold"] else r["gold"][0] for r in rows]
    m = _metrics(gold, [r["pred"] for r in rows])
    single = [r["pred"] in r["gold"] for r in rows if len(set(r["gold"])) == 1]
    m.update(accuracy=sum(r["pred"] in r["gold"] for r in rows) / len(rows), accuracy_single=sum(single) / len(single),
             majority=Counter(gold).most_common(1)[0][1] / len(rows), command=" ".join(sys.argv),
             by_fold=[sum(r["pred"] in r["gold"] for r in rows if r["fold"] == k) / len(folds[k]) for k in chosen],
             held_fold_temperatures=[round(t, 3) for t in temperatures], seconds=round(time.time() - started),
             stage2_train_args=train_args, stage2_prepare=prep)
    from kbqa.evaluate.metrics import expected_calibration_error as ece

    m["ece"] = float(ece([r["confidence"] for r in rows], [r["pred"] in r["gold"] for r in rows]))
    print(json.dumps({k: m[k] for k in ("n", "accuracy", "macro_f1", "accuracy_single", "majority", "by_fold", "ece",
                                        "held_fold_temperatures")}))
    if args.out:
        Path(args.out).write_text(json.dumps(m, indent=1) + "\n")
        Path(args.out).with_suffix(".rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if args.final:
        final_args = list(train_args)
        if args.final_temperature:
            final_args += ["--temperature", str(round(statistics.mean(temperatures), 3))]
        stage2(args.base, Path(args.work) / "final", "all", prep, final_args)
        print(f"final model: {Path(args.work) / 'final' / 'model'} (copy it to {args.final})", file=sys.stderr)


if __name__ == "__main__":
    main()
