"""Typed retrieval on vs off on LiveQA with held-out question types: each fold's questions are typed by the
classifier that did not train on them (the fold models of benchmarks/qtype_cv.py), never by the committed
one (which trained on all of LiveQA).

Runs `kbqa eval --typed off` once over every question, then `kbqa eval --typed on` per fold of
eval/splits/liveqa.json on that fold's questions with ``$KBQA_QTYPE`` = ``MODELS/fold{k}/model``, merges the
five `per_query.jsonl` into ``OUT/on`` and compares with eval/scripts/typed_retrieval.py (overall and per
annotated type)::

    python eval/scripts/typed_retrieval_cv.py --benchmark eval/benchmarks/liveqa-train \\
        --index indexes/liveqa-train-tuned --models /tmp/qtype/cv --out eval/reports/typed/liveqa-hybrid-cv
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _eval(args: argparse.Namespace, questions: Path, typed: str, out: Path, env: dict[str, str]) -> None:
    if (out / "per_query.jsonl").is_file():
        return  # done by an earlier, interrupted run
    cmd = [sys.executable, "-m", "kbqa", "eval", "--index", args.index, "--questions", str(questions),
           "--qrels", str(Path(args.benchmark) / "qrels.tsv"), "--typed", typed, "--out", str(out), "--no-progress",
           *(["--config", args.config] if args.config else [])]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--benchmark", required=True, help="folder with questions.jsonl and qrels.tsv (liveqa-train)")
    ap.add_argument("--index", required=True)
    ap.add_argument("--models", required=True, help="folder with fold{k}/model (benchmarks/qtype_cv.py --work)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default=None, help="TOML search settings for both runs (e.g. typed weights)")
    args = ap.parse_args()

    from kbqa.paths import load_split

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    questions = Path(args.benchmark) / "questions.jsonl"
    rows = [json.loads(line) for line in questions.read_text().splitlines() if line.strip()]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    _eval(args, questions, "off", out / "off", env)
    merged = []
    for k, fold in enumerate(load_split("eval/splits/liveqa.json")["folds"]):
        ids = set(fold)
        part = out / f"fold{k}.questions.jsonl"
        part.write_text("".join(json.dumps(r) + "\n" for r in rows if r["id"] in ids))
        _eval(args, part, "on", out / f"on-fold{k}", {**env, "KBQA_QTYPE": str(Path(args.models) / f"fold{k}" / "model")})
        merged += (out / f"on-fold{k}" / "per_query.jsonl").read_text().splitlines()
    (out / "on").mkdir(exist_ok=True)
    (out / "on" / "per_query.jsonl").write_text("\n".join(m for m in merged if m.strip()) + "\n")
    subprocess.run([sys.executable, str(ROOT / "eval" / "scripts" / "typed_retrieval.py"), "--questions", str(questions),
                    "--off", str(out / "off"), "--on", str(out / "on"), "--out", str(out / "typed.json")],
                   check=True, env=env)


if __name__ == "__main__":
    main()
