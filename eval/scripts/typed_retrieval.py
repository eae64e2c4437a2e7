"""Typed retrieval on vs off, overall and per question type, from two `kbqa eval` runs of one benchmark.

Each run folder is a `kbqa eval --out` (``per_query.jsonl``); the type of a question is its annotated
one mapped onto the type set (MedQuAD ``qtype``; LiveQA ``types``, the first sub-question's), so the
per-type figures group by what was asked, not by what the classifier predicted.

    python eval/scripts/typed_retrieval.py --questions B/questions.jsonl --off RUN_OFF --on RUN_ON [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def _type(q: dict) -> str:
    from kbqa.intent.types import from_liveqa, from_medquad

    if q.get("qtype"):
        return from_medquad(q["qtype"])
    if q.get("types"):
        return from_liveqa(q["types"][0])
    return "unknown"


def _scores(run: str, measure: str) -> dict[str, float]:
    rows = [json.loads(line) for line in (Path(run) / "per_query.jsonl").read_text().splitlines() if line.strip()]
    return {r["qid"]: r["retrieval"][measure] for r in rows if r.get("retrieval")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", required=True)
    ap.add_argument("--off", required=True)
    ap.add_argument("--on", required=True)
    ap.add_argument("--measure", default="nDCG@10")
    ap.add_argument("--out")
    args = ap.parse_args()
    questions = {q["id"]: q for q in map(json.loads, Path(args.questions).read_text().splitlines()) if q}
    off, on = _scores(args.off, args.measure), _scores(args.on, args.measure)
    groups: dict[str, list[str]] = defaultdict(list)
    for qid in off:
        groups[_type(questions[qid])].append(qid)
    def row(ids: list[str]) -> dict:
        a = sum(off[i] for i in ids) / len(ids)
        b = sum(on[i] for i in ids) / len(ids)
        return {"n": len(ids), "off": round(a, 4), "on": round(b, 4), "delta": round(b - a, 4)}
    out = {"measure": args.measure, "off": args.off, "on": args.on, "overall": row(list(off)),
           "per_type": {t: row(ids) for t, ids in sorted(groups.items(), key=lambda kv: -len(kv[1]))}}
    print(f"{'type':<18}{'n':>5}{'off':>8}{'on':>8}{'delta':>8}")
    for name, r in [("overall", out["overall"]), *out["per_type"].items()]:
        print(f"{name:<18}{r['n']:>5}{r['off']:>8.3f}{r['on']:>8.3f}{r['delta']:>+8.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
