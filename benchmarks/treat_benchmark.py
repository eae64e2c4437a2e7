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
PATIENT = "pregnant, with chronic kidney disease"  # the patient text of the warnings figure


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


def _key(text: str) -> str:
    from kbqa.intent.focus import words

    return " ".join(w for w, _, _ in words(text))


def answer_names(lexicon, condition: str, answers: list[str]) -> set[str]:
    """The lexicon's names (canonical keys) in the held-out answers: template sentences and names inside the
    condition's own name left out, as treat leaves them out."""
    from kbqa.text import sentence_spans

    cond = f" {_key(condition)} "
    names = set()
    for text in answers:
        for a, b in sentence_spans(text):
            sentence = text[a:b]
            if lexicon.is_boilerplate(sentence):
                continue
            names |= {k for f in lexicon.find(sentence) if (k := _key(f.name)) and f" {k} " not in cond}
    return names


def option_keys(lexicon, options) -> list[str]:
    """Each option's canonical key (the lexicon entry it was found as)."""
    out = []
    for o in options:
        found = lexicon.find(o.name, limit=1)
        out.append(_key(found[0].name) if found else _key(o.name))
    return out


def scores(found: list[set[str]], gold: list[set[str]]) -> dict:
    """Macro precision-like (over conditions with options and answer names) and recall-like (over conditions with
    answer names), and the micro counts."""
    both = [(f, g) for f, g in zip(found, gold) if g and f]
    named = [(f, g) for f, g in zip(found, gold) if g]
    hit = sum(len(f & g) for f, g in named)
    return {
        "precision": round(sum(len(f & g) / len(f) for f, g in both) / len(both), 4) if both else None,
        "recall": round(sum(len(f & g) / len(g) for f, g in named) / len(named), 4) if named else None,
        "conditions_scored_precision": len(both),
        "conditions_scored_recall": len(named),
        "micro_precision": round(hit / sum(len(f) for f, _ in named), 4) if any(f for f, _ in named) else None,
        "micro_recall": round(hit / sum(len(g) for _, g in named), 4) if named else None,
    }


def percentiles(ms: list[float]) -> dict:
    import numpy as np

    return {"p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "n": len(ms)} if ms else {}


def timed(kb, conditions: list[str], medications: tuple[str, ...] = ()) -> dict:
    """p50/p95 of treat over ``conditions``; with ``medications``, also over the calls that ran the
    interaction check (a condition without a medicine option has nothing to check)."""
    from kbqa.treat import treat

    for c in conditions[:3]:  # warm: the lexicons, the models
        treat(kb, c, medications=medications)
    out, checked = [], []
    for c in conditions:
        t0 = time.perf_counter()
        r = treat(kb, c, medications=medications)
        out.append(1e3 * (time.perf_counter() - t0))
        if r.provenance.get("interactions", {}).get("pairs_checked"):
            checked.append(out[-1])
    report = percentiles(out)
    if medications:
        report = {"medications": list(medications), **report, "checked": percentiles(checked)}
    return report


def warnings_figure(kb, conditions: list[str], k: int) -> dict:
    """How often options get a warning for :data:`PATIENT` (sentences about the option naming the situation)."""
    from kbqa.treat import treat

    options = warned = conditions_warned = 0
    for c in conditions:
        r = treat(kb, c, patient=PATIENT, k=k)
        options += len(r.options)
        n = sum(bool(o.warnings) for o in r.options)
        warned += n
        conditions_warned += n > 0
    return {"patient": PATIENT, "options": options, "options_with_warning": warned,
            "conditions_with_a_warning": conditions_warned}


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from kbqa.jsonlines import read_jsonl
    from kbqa.pipeline import KnowledgeBase
    from kbqa.treat import treat
    from kbqa.treat.lexicon import lexicon_for

    rows = list(read_jsonl(Path(args.work) / "conditions.jsonl"))[: args.limit]
    kb = KnowledgeBase.load(args.index)
    t0 = time.perf_counter()
    lexicon = lexicon_for(kb)
    lexicon_s = time.perf_counter() - t0
    found, gold, per = [], [], []
    for r in rows:
        t = time.perf_counter()
        result = treat(kb, r["condition"], k=args.k)
        ms = 1e3 * (time.perf_counter() - t)
        keys = option_keys(lexicon, result.options)
        names = answer_names(lexicon, r["condition"], r["answers"])
        found.append(set(keys))
        gold.append(names)
        per.append({"condition": r["condition"], "options": [o.name for o in result.options], "answer_names": sorted(names),
                    "named": sorted(set(keys) & names), "ms": round(ms, 1)})
    prior = [k for k, _ in Counter(k for f in found for k in f).most_common(args.k)]
    conditions = [r["condition"] for r in rows]
    report = {
        "benchmark": "treat on held-out MedQuAD treatment answers (benchmarks/treat_benchmark.py)",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "index": str(args.index),
        "index_documents": kb.manifest["counts"]["documents"],
        "index_chunks": len(kb),
        "conditions": len(rows),
        "k": args.k,
        "with_options": round(sum(bool(f) for f in found) / len(rows), 4),
        "with_answer_names": sum(bool(g) for g in gold),
        "named_in_held_out_answer": scores(found, gold),
        "baseline_most_frequent_options": {"options": prior, **scores([set(prior)] * len(gold), gold)},
        "warnings": warnings_figure(kb, [r["condition"] for r in rows], args.k),
        "lexicon": {"names": len(lexicon), "boilerplate_sentences": len(lexicon.boilerplate),
                    "build_s": round(lexicon_s, 1)},
        "latency": {"without_medications": timed(kb, conditions),
                    "with_medications": timed(kb, conditions[: args.med_limit], MEDICATIONS)},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    if args.latency_index:
        big = KnowledgeBase.load(args.latency_index)
        report["latency_full_index"] = {
            "index": str(args.latency_index), "chunks": len(big),
            "warnings": warnings_figure(big, conditions, args.k),
            "without_medications": timed(big, conditions),
            "with_medications": timed(big, conditions[: args.med_limit], MEDICATIONS)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out.with_name(out.stem + "_per_condition.jsonl")).write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in per), encoding="utf-8")
    shown = {k: v for k, v in report.items() if k not in ("command", "machine")}
    print(json.dumps(shown, indent=1))
    print(f"written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the benchmark corpus and the dev conditions")
    p.add_argument("--work", default="/tmp/treat")
    p.add_argument("--data", default="../shared/data/medquad")
    p.add_argument("--split", default="eval/splits/medquad.json")
    p.set_defaults(func=prepare)
    r = sub.add_parser("run", help="the figures over the benchmark index")
    r.add_argument("--work", default="/tmp/treat", help="where prepare wrote conditions.jsonl")
    r.add_argument("--index", default="/tmp/treat/index", help="the benchmark index (without the held-out answers)")
    r.add_argument("--latency-index", default=None, help="also time treat over this index (e.g. indexes/medquad)")
    r.add_argument("-k", type=int, default=10, help="options per condition")
    r.add_argument("--limit", type=int, default=150, help="at most this many dev conditions")
    r.add_argument("--med-limit", type=int, default=30, help="conditions timed with --medications")
    r.add_argument("--out", default="benchmarks/results/treat.json")
    r.set_defaults(func=run)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
