"""Reader training experiments: one recipe per run, dev metrics appended to a JSONL log.

    nice -n 5 python benchmarks/reader_experiments.py --name conc2_main4 --out /tmp/reader_exp \
        --data ../shared/data/pubmedqa/pqal_traindev.json [--data ../shared/data/claims/check_covid/train.jsonl] \
        [--epochs 4 --lr 5e-5 --phase1-epochs 2 --no-conclusion-phase --max-length 256 --seed 0] [--cv]

Each run trains with kbqa.read.train_recipe.train_reader (the same code as `kbqa train reader`) and
appends {name, recipe, dev metrics per epoch, calibration, seconds} to OUT/results.jsonl.

``--cv`` compares recipes without touching the dev set: it trains once per fold of the committed
split's ``folds`` (5 stratified folds of the 400 train PMIDs), each time on the other four folds,
selecting and scoring on the held-out fold (reasoning-required input, and question + conclusion:
what ``kbqa ask`` reads), and reports the mean and spread over folds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from kbqa.read.train_recipe import ReaderRecipe, train_reader

    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="/tmp/reader_exp")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--base", default=None, help="encoder folder to start from (default: bundled MiniLM)")
    ap.add_argument("--cv", action="store_true", help="5-fold cross-validation on the train part (dev untouched)")
    for f in dataclasses.fields(ReaderRecipe):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            ap.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=f.default)
        else:
            ap.add_argument(flag, type=type(f.default), default=f.default)
    args = ap.parse_args()
    recipe = ReaderRecipe(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ReaderRecipe)})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.cv:
        cross_validate(args, recipe, out)
        return
    model_dir = out / args.name
    result = train_reader(args.data, model_dir, base_model=args.base, recipe=recipe)
    info = json.loads((model_dir / "kbqa_train.json").read_text())
    row = {"name": args.name, "recipe": dataclasses.asdict(recipe), "data": args.data, "result": result,
           "history": [{"epoch": h["epoch"], "train_loss": h["train_loss"],
                        **{k: h["dev"][k] for k in ("accuracy", "macro_f1", "loss")}} for h in info["history"]],
           "phase1_history": (info["metadata"].get("phase1_dev") or {}),
           "machine": f"{os.cpu_count()}-core CPU, shared, no GPU"}
    with (out / "results.jsonl").open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: row[k] for k in ("name", "history")}, indent=1))
    print(json.dumps(result["calibration"], indent=1))


METRICS = ("accuracy", "macro_f1", "conclusion_accuracy", "conclusion_macro_f1")


def _score_conclusions(model_dir: Path, data: list[str], split_file: Path) -> dict:
    """The fold's model on question + conclusion of its held-out PubMedQA items (what `ask` reads)."""
    from kbqa.evaluate import metrics as M
    from kbqa.read import data as rdata
    from kbqa.read.reader import Reader

    held = json.loads(split_file.read_text())["dev"]
    items = [it for path in data if rdata.is_pubmedqa(path)
             for it in rdata.split_items(rdata.load_pubmedqa(path), held)]
    if not items:
        return {}
    reader = Reader.load(model_dir, precision="fp32")
    probs = reader.predict_proba([(e.text, e.text_pair) for e in rdata.pubmedqa_examples(items, "conclusion")])
    pred = [reader.labels[i] for i in probs.argmax(1)]
    gold = [it.label for it in items]
    return {"conclusion_accuracy": M.accuracy(gold, pred), "conclusion_macro_f1": M.macro_f1(gold, pred)}


def cross_validate(args: argparse.Namespace, recipe: object, out: Path) -> None:
    """One training per fold of the committed split (train part only); mean and spread of the kept epochs."""
    import statistics

    from kbqa.read import data as rdata
    from kbqa.read.train_recipe import train_reader

    split = rdata.load_split()
    folds = split.get("folds")
    if not folds:
        raise SystemExit("the split file has no 'folds'")
    rows = []
    for n, held in enumerate(folds):
        rest = [p for f in folds[:n] + folds[n + 1:] for p in f]
        split_file = out / f"{args.name}.fold{n}.split.json"
        split_file.write_text(json.dumps({"train": rest, "dev": held}))
        result = train_reader(args.data, out / f"{args.name}.fold{n}", base_model=args.base, recipe=recipe,
                              split_file=split_file, progress=False)
        conclusion = _score_conclusions(out / f"{args.name}.fold{n}", args.data, split_file)
        shutil.rmtree(out / f"{args.name}.fold{n}", ignore_errors=True)  # only the scores are kept
        dev = result["dev"]
        rows.append({"fold": n, "accuracy": dev["accuracy"], "macro_f1": dev["macro_f1"], "epoch": dev.get("epoch"),
                     **conclusion})
        print(json.dumps(rows[-1]), flush=True)
    summary = {"name": args.name, "cv": rows, "recipe": dataclasses.asdict(recipe), "data": args.data,
               **{f"{k}_mean": round(statistics.mean(r[k] for r in rows), 4) for k in METRICS if k in rows[0]},
               **{f"{k}_sd": round(statistics.stdev(r[k] for r in rows), 4) for k in METRICS if k in rows[0]},
               "machine": f"{os.cpu_count()}-core CPU, shared, no GPU"}
    with (out / "results.jsonl").open("a") as f:
        f.write(json.dumps(summary) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "recipe"}, indent=1))


if __name__ == "__main__":
    main()
