"""``kbqa treat`` on held-out MedQuAD conditions: how often it finds options, whether they are the ones the
held-out treatment answer names, and how long it takes.

    # 1. the benchmark corpus (MedQuAD minus the held-out treatment answers) and its index
    python benchmarks/treat_benchmark.py prepare --work /tmp/treat
    OMP_NUM_THREADS=1 kbqa index build /tmp/treat/corpus.jsonl --index /tmp/treat/index --preset fast
    # 2. the figures (JSON to benchmarks/results/treat.json)
    OMP_NUM_THREADS=1 python benchmarks/treat_benchmark.py run --index /tmp/treat/index \
        [--latency-index indexes/medquad]

Dev set: every condition (MedQuAD focus) of the dev part of eval/splits/medquad.json (split by focus, so
no dev condition is in the training part) that has an answered ``treatment`` pair. The benchmark index
holds all of MedQuAD except those treatment answers (and any other pair on the same focus with the same
answer text): what treat finds for a dev condition comes from its other sections and from other topics.

Figures: the share of conditions with at least one option; against the names the same lexicon
(kbqa.treat.lexicon) recognises in the held-out treatment answer: precision-like (options named there /
options found, over conditions with options and a named answer) and recall-like (answer names found
among the options / answer names); p50/p95 latency of treat without and with ``--medications``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDICATIONS = ("warfarin", "aspirin")  # the current medications of the "with --medications" timing


def dev_treatment_pairs(data: str, split: str) -> tuple[list, list]:
    """(held-out treatment pairs of the dev conditions, every answered MedQuAD pair)."""
    from kbqa.evaluate.export import focus_key, medquad_pairs
    from kbqa.paths import split_part

    pairs = medquad_pairs(data)
    dev = set(split_part(split, "dev"))
    held = [d for d in pairs if d.doc_id in dev and d.meta.get("qtype") == "treatment" and d.text.strip()]
    keys = {focus_key(d) for d in held}
    texts = {" ".join(d.text.split()) for d in held}
    # the same treatment answer told again on the same focus (another collection) is held out too
    held += [d for d in pairs if d not in held and focus_key(d) in keys and " ".join(d.text.split()) in texts]
    return held, pairs


def prepare(args: argparse.Namespace) -> int:
    from kbqa.evaluate.export import focus_key
    from kbqa.jsonlines import write_jsonl

    held, pairs = dev_treatment_pairs(args.data, args.split)
    out = Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    held_ids = {d.doc_id for d in held}
    corpus = [{"id": d.doc_id, "title": d.title, "text": d.text, **d.meta} for d in pairs if d.doc_id not in held_ids]
    write_jsonl(out / "corpus.jsonl", corpus)
    conditions: dict[str, dict] = {}
    for d in held:
        c = conditions.setdefault(focus_key(d), {"condition": d.meta.get("focus", ""), "answers": [], "pairs": []})
        c["answers"].append(d.text)
        c["pairs"].append(d.doc_id)
    write_jsonl(out / "conditions.jsonl", list(conditions.values()))
    print(f"{len(corpus)} pairs in {out / 'corpus.jsonl'} ({len(held_ids)} held out); "
          f"{len(conditions)} dev conditions in {out / 'conditions.jsonl'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the benchmark corpus and the dev conditions")
    p.add_argument("--work", default="/tmp/treat")
    p.add_argument("--data", default="../shared/data/medquad")
    p.add_argument("--split", default="eval/splits/medquad.json")
    p.set_defaults(func=prepare)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
