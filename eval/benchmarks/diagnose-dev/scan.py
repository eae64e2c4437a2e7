"""Scan the differential's scoring settings on the dev cases (retrieval done once per case and mode).

    python eval/benchmarks/diagnose-dev/scan.py --index indexes/medquad --cases /tmp/diagnose-dev/cases-dev.jsonl \
        --names /tmp/diagnose-dev/names.json --out eval/benchmarks/diagnose-dev/scan-dev.json

Hits are retrieved once per case (``--depth`` passages, the case's own document held out as
``kbqa eval diagnose --exclude-column doc_id`` does) and re-scored with each setting of
``kbqa.diagnose.differential.group_hits``; the table lists top-1/top-5/MRR per setting, best top-5 first.
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

GRID = {
    "depth": [30, 100, 200],
    "decay": [0.0, 0.3, 0.5, 0.7],
    "per_condition": [1, 3, 5],
    "section_weight": [0.3, 0.6, 1.0],
    "rare_weight": [0.4, 0.6, 0.8, 1.0],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--names", default=None)
    ap.add_argument("--modes", default="hybrid")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from tqdm.auto import tqdm

    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(args.index)
    table = condition_table(kb)
    cases = read_cases(args.cases, label_column="label")
    names = json.loads(Path(args.names).read_text()) if args.names else {}
    depth = max(GRID["depth"])
    results = []
    for mode in args.modes.split(","):
        searcher = kb.with_search(mode=mode)
        retrieved = []
        for case in tqdm(cases, desc=f"retrieve {mode}"):
            own = {case.row["doc_id"]}
            hits = [h for h in searcher.search(case.text, k=depth + 5) if h.doc_id not in own]
            retrieved.append(hits)
        gold = [[case.label, *names.get(case.label, [])] for case in cases]

        def key_of(hit):  # noqa: ANN001, ANN202
            name = condition_of(hit.meta)
            return None if name is None else condition_key(name)

        for values in itertools.product(*GRID.values()):
            setting = dict(zip(GRID, values, strict=True))
            if setting["decay"] == 0.0 and setting["per_condition"] > 1:
                continue
            params = ScoringParams(**setting)
            ranks = []
            for hits, accepted in zip(retrieved, gold, strict=True):
                groups = group_hits(hits[: params.depth], key_of, params)[:10]
                rank = next((i for i, g in enumerate(groups, 1)
                             if any(word_match(a, table.names[g.key]) for a in accepted)), None)
                ranks.append(rank)
            results.append({"mode": mode, **setting, **summarise(ranks)})
    results.sort(key=lambda r: (-r["top5"], -r["mrr"]))
    print("mode    depth decay per sect rare   top1  top5  mrr")
    for r in results[:25]:
        print(f"{r['mode']:<7} {r['depth']:>5} {r['decay']:>5} {r['per_condition']:>3} {r['section_weight']:>4} "
              f"{r['rare_weight']:>4}  {r['top1']:.3f} {r['top5']:.3f} {r['mrr']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
