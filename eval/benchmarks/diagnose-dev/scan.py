"""Scan the differential's scoring settings on the dev cases (retrieval done once per case and mode).

    python eval/benchmarks/diagnose-dev/scan.py --index indexes/medquad \
        --cases /tmp/diagnose-dev/cases-dev.jsonl --names /tmp/diagnose-dev/names.json \
        --cases eval/benchmarks/diagnose-dev/lay-cases.jsonl --names eval/benchmarks/diagnose-dev/lay-names.json

Hits are retrieved once per case (``--depth`` passages, the case's own document held out as
``kbqa eval diagnose --exclude-column doc_id`` does) and re-scored with each setting of
``kbqa.diagnose.differential.group_hits``; the table lists top-1/top-5 per case file and setting, best
mean top-5 first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from kbqa.diagnose.benchmark import summarise  # noqa: E402
from kbqa.diagnose.cases import read_cases  # noqa: E402
from kbqa.diagnose.conditions import condition_key, condition_of, condition_table, word_match  # noqa: E402
from kbqa.diagnose.differential import ScoringParams, group_hits  # noqa: E402
from kbqa.lexical import tokenize  # noqa: E402

GRID = {
    "depth": [100, 200],
    "decay": [0.0, 0.3, 0.6],
    "per_condition": [1, 5],
    "section_weight": [0.5, 1.0],
    "rare_weight": [0.5, 0.75, 1.0],
    "doc_prior": [0.0, 0.2],
    "generic_weight": [1.0, 0.5],
    "echo_weight": [1.0, 0.3],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--cases", required=True, action="append", help="a case file (repeat for several)")
    ap.add_argument("--names", action="append", default=[], help="a names file (repeat; merged)")
    ap.add_argument("--modes", default="hybrid", help="comma-separated: hybrid, lexical, dense, or hybrid:W "
                    "(BM25 fused at weight W)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from tqdm.auto import tqdm

    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(args.index)
    table = condition_table(kb)
    names: dict[str, list[str]] = {}
    for path in args.names:
        names.update(json.loads(Path(path).read_text()))
    sets = {Path(p).stem: read_cases(p, label_column="label") for p in args.cases}
    depth = max(GRID["depth"])

    def key_of(hit):  # noqa: ANN001, ANN202
        name = condition_of(hit.meta)
        return None if name is None else condition_key(name)

    results: dict[tuple, dict] = {}
    for mode in args.modes.split(","):
        name, _, weight = mode.partition(":")  # "hybrid:1.0": hybrid with BM25 at weight 1.0
        searcher = kb.with_search(mode=name, **({"lexical_weight": float(weight)} if weight else {}))
        for set_name, cases in sets.items():
            retrieved, excluded = [], []
            for case in tqdm(cases, desc=f"retrieve {set_name} {mode}"):
                own = {case.row["doc_id"]} if case.row.get("doc_id") else set()
                retrieved.append([h for h in searcher.search(case.text, k=depth + 5) if h.doc_id not in own])
                excluded.append(own)
            query_terms = [set(t) for t in tokenize([c.text for c in cases])]
            gold = [[case.label, *names.get(case.label, [])] for case in cases]
            for values in itertools.product(*GRID.values()):
                setting = dict(zip(GRID, values, strict=True))
                if (setting["decay"] == 0.0) != (setting["per_condition"] == 1):
                    continue  # one document counted <=> no decay
                params = ScoringParams(**setting)
                ranks = []
                for hits, accepted, own, terms in zip(retrieved, gold, excluded, query_terms, strict=True):
                    def count(key, own=own):  # noqa: ANN001, ANN202 - documents left once the case's own is held out
                        return sum(d not in own for d in table.documents.get(key, ()))

                    groups = group_hits(hits[: params.depth], key_of, params, count, terms)[:10]
                    ranks.append(next((i for i, g in enumerate(groups, 1)
                                       if any(word_match(a, table.names[g.key]) for a in accepted)), None))
                row = results.setdefault((mode, *values), {"mode": mode, **setting})
                row[set_name] = summarise(ranks)
    rows = list(results.values())
    for row in rows:
        row["mean_top5"] = round(sum(row[n]["top5"] for n in sets) / len(sets), 4)
        row["mean_top1"] = round(sum(row[n]["top1"] for n in sets) / len(sets), 4)
    rows.sort(key=lambda r: (-r["mean_top5"], -r["mean_top1"]))
    head = "mode    depth decay per sect rare prior gener echo  " + "  ".join(f"{n[:14]:>14} t1/t5" for n in sets)
    print(head)
    for r in rows[:30]:
        cells = "  ".join(f"{r[n]['top1']:>14.3f}/{r[n]['top5']:.3f}" for n in sets)
        print(f"{r['mode']:<7} {r['depth']:>5} {r['decay']:>5} {r['per_condition']:>3} {r['section_weight']:>4} "
              f"{r['rare_weight']:>4} {r['doc_prior']:>5} {r['generic_weight']:>5} {r['echo_weight']:>4}  {cells}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
