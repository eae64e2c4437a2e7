"""Reader training experiments: one recipe per run, dev metrics appended to a JSONL log.

    nice -n 5 python benchmarks/reader_experiments.py --name conc2_main4 --out /tmp/reader_exp \
        --data ../shared/data/pubmedqa/pqal_traindev.json [--data ../shared/data/claims/check_covid/train.jsonl] \
        [--epochs 4 --lr 5e-5 --phase1-epochs 2 --no-conclusion-phase --max-length 256 --seed 0]

Each run trains with kbqa.read.recipe.train_reader (the same code as `kbqa train reader`) and
appends {name, recipe, dev metrics per epoch, calibration, seconds} to OUT/results.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from kbqa.read.recipe import ReaderRecipe, train_reader

    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="/tmp/reader_exp")
    ap.add_argument("--data", action="append", required=True)
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
    model_dir = out / args.name
    result = train_reader(args.data, model_dir, recipe=recipe)
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


if __name__ == "__main__":
    main()
