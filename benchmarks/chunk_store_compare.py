"""Serving memory and output of a knowledge base, to compare two kbqa checkouts (issue #22).

Loads the index with the kbqa found on PYTHONPATH, measures anonymous RSS before and after
``KnowledgeBase.load`` (the encoder is loaded first, so the delta is the index, chunks and metadata)
and after the queries, and writes every hit (id, score, text, title, metadata, offsets) of dense,
lexical and hybrid searches with and without filters, plus ``ask`` answers, to ``--out``.
Run it once per checkout and compare with ``--diff A.json B.json``:

    PYTHONPATH=OLD_CHECKOUT python benchmarks/chunk_store_compare.py --index IDX --out /tmp/before.json
    PYTHONPATH=.            python benchmarks/chunk_store_compare.py --index IDX2 --out /tmp/after.json
    python benchmarks/chunk_store_compare.py --diff /tmp/before.json /tmp/after.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

QUERIES = [
    "Does aspirin prevent stroke?", "treatment of glioblastoma", "symptoms of multiple sclerosis",
    "Is laparoscopic surgery safer than open surgery?", "risk factors for breast cancer", "what causes migraine",
    "childhood leukemia survival", "Do statins reduce mortality in elderly patients?", "epilepsy genetic testing",
    "smoking and lung cancer screening", "vitamin D supplementation fractures", "neuropathy diabetes pain",
]
FILTERS = [None, {"year_min": 2005, "year_max": 2012}, {"mesh": "Humans"}, {"mesh": "Humans", "year_min": 2010},
           {"source": "CancerGov"}, {"publication_type": "Journal Article"}]
ASK = ["Does aspirin prevent stroke?", "Is laparoscopic surgery safer than open surgery?",
       "Do statins reduce mortality in elderly patients?"]


def anon_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(index: str, out: str, ask: bool) -> None:
    import gc

    from kbqa.config import from_dict
    from kbqa.embed import load_encoder
    from kbqa.index.store import IndexFolder
    from kbqa.pipeline import KnowledgeBase

    manifest = IndexFolder(index).manifest()
    encoder = load_encoder(from_dict(manifest["config"], source="manifest").embed)
    encoder.encode_queries(["warm up"])
    gc.collect()
    before = anon_rss_mb()
    t = time.perf_counter()
    kb = KnowledgeBase.load(index, encoder=encoder)
    load_s = time.perf_counter() - t
    gc.collect()
    loaded = anon_rss_mb()
    hits = {}
    t = time.perf_counter()
    for mode in ("dense", "lexical", "hybrid"):
        view = kb.with_search(mode=mode)
        for f in FILTERS:
            rows = view.search_many(QUERIES, 10, f)
            hits[f"{mode} {json.dumps(f, sort_keys=True)}"] = [[dataclasses.asdict(h) for h in row] for row in rows]
    search_s = time.perf_counter() - t
    answers = []
    if ask:
        for q in ASK:
            a = kb.ask(q)
            answers.append(json.loads(json.dumps(dataclasses.asdict(a), default=str)))
    gc.collect()
    result = {
        "index": index, "chunks": len(kb), "rss_before_load_mb": round(before, 1), "rss_load_delta_mb": round(loaded - before, 1),
        "rss_after_queries_delta_mb": round(anon_rss_mb() - before, 1), "load_s": round(load_s, 2),
        "searches": len(QUERIES) * len(FILTERS) * 3, "search_s": round(search_s, 2), "hits": hits, "answers": answers,
    }
    Path(out).write_text(json.dumps(result, indent=0))
    print(json.dumps({k: v for k, v in result.items() if k not in ("hits", "answers")}))


def _strip_timing(answers: list) -> list:
    """Answers without their provenance timings (wall-clock values differ run to run)."""
    def clean(x: object) -> object:
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items() if not any(s in k for s in ("seconds", "_ms", "time", "elapsed"))}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x
    return [clean(a) for a in answers]


def diff(a_path: str, b_path: str) -> int:
    a, b = json.loads(Path(a_path).read_text()), json.loads(Path(b_path).read_text())
    same_hits = a["hits"] == b["hits"]
    same_answers = _strip_timing(a["answers"]) == _strip_timing(b["answers"])
    n = sum(len(r) for rows in a["hits"].values() for r in rows)
    print(f"hits identical: {same_hits} ({n} hits over {len(a['hits'])} mode x filter settings); "
          f"answers identical: {same_answers} ({len(a['answers'])} questions)")
    for key in a["hits"]:
        if a["hits"][key] != b["hits"].get(key):
            print("differs:", key)
    for k in ("rss_load_delta_mb", "rss_after_queries_delta_mb", "load_s", "search_s"):
        print(f"{k}: {a[k]} -> {b[k]}")
    return 0 if same_hits and same_answers else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index")
    p.add_argument("--out")
    p.add_argument("--no-ask", action="store_true")
    p.add_argument("--diff", nargs=2, metavar=("A", "B"))
    a = p.parse_args()
    if a.diff:
        sys.exit(diff(*a.diff))
    run(a.index, a.out, not a.no_ask)


if __name__ == "__main__":
    main()
