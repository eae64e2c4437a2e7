"""Incremental update against a full build, and against a fresh build of the same final corpus.

In one run, on real MedQuAD answers (../shared/data/medquad):
  1. full build of --docs documents (KnowledgeBase.build, model loading included);
  2. an update with 1% new, 0.5% changed and 0.5% deleted documents (update_index as the CLI runs
     it, model loading included): target update time <= 5% of the full build;
  3. a fresh build over the final corpus, compared with the updated index: the update wrote one
     segment (kbqa/index/segments.py), so it is compared after ``compact_index`` merged it back into
     one piece (timed too): same documents, chunk ids and vectors (by id: changed documents move to
     the end), and dense (exact backend) and BM25 results for --queries queries: same ids, scores
     within 1e-5. (Dense results of the segmented index itself equal a fresh build's on Flat:
     tests/test_segments.py.)

    python benchmarks/update_benchmark.py --docs 10000 [--preset fast] [--queries 200] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from kbqa.config import load_config  # noqa: E402
from kbqa.corpus import iter_documents  # noqa: E402
from kbqa.index.check import check_index  # noqa: E402
from kbqa.index.compact import compact_index  # noqa: E402
from kbqa.index.exact import ExactIndex  # noqa: E402
from kbqa.index.store import IndexFolder  # noqa: E402
from kbqa.index.update import update_index  # noqa: E402
from kbqa.pipeline import KnowledgeBase  # noqa: E402

MEDQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "medquad"
REVISION = " Update: this answer was reviewed; newer guidance recommends discussing these options with a clinician."


def write_jsonl(path: Path, docs: list) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({**d.meta, "id": d.doc_id, "title": d.title, "text": d.text}, ensure_ascii=False) + "\n")
    return path


def make_corpora(n: int, work: Path, seed: int) -> dict:
    """base.jsonl (n docs), delta.jsonl (1% new + 0.5% changed), delete.txt (0.5%), final.jsonl."""
    from dataclasses import replace

    docs = list(iter_documents(MEDQUAD, "medquad"))
    rng = random.Random(seed)
    rng.shuffle(docs)
    n_new, n_changed, n_deleted = max(1, n // 100), max(1, n // 200), max(1, n // 200)
    if len(docs) < n + n_new:
        raise SystemExit(f"MedQuAD has {len(docs)} answered documents; --docs can be at most {len(docs) - n_new}")
    base, new = docs[:n], docs[n : n + n_new]
    picked = rng.sample(range(n), n_changed + n_deleted)
    changed = {i: replace(base[i], text=base[i].text + REVISION) for i in picked[:n_changed]}
    deleted = {base[i].doc_id for i in picked[n_changed:]}
    final = [changed.get(i, d) for i, d in enumerate(base) if d.doc_id not in deleted] + new
    (work / "delete.txt").write_text("".join(i + "\n" for i in sorted(deleted)))
    return {
        "base": write_jsonl(work / "base.jsonl", base),
        "delta": write_jsonl(work / "delta.jsonl", list(changed.values()) + new),
        "final": write_jsonl(work / "final.jsonl", final),
        "deleted": sorted(deleted),
        "counts": {"base": n, "new": n_new, "changed": n_changed, "deleted": n_deleted, "final": len(final)},
        "queries": [d.title for d in rng.sample(final, min(len(final), 10_000))],
        "touched": [d.title for d in list(changed.values()) + new],
    }


def compare(updated: Path, fresh: Path, config, queries: list[str], k: int) -> dict:
    """Files, vectors and search results of two indexes that should hold the same corpus."""
    a_dir, b_dir = IndexFolder(updated), IndexFolder(fresh)
    a_man, b_man = a_dir.manifest(), b_dir.manifest()
    differ = sorted(f for f in set(a_man["files"]) | set(b_man["files"]) if a_man["files"].get(f) != b_man["files"].get(f))
    a, b = KnowledgeBase.load(updated), KnowledgeBase.load(fresh)
    dim = a_man["embedder"]["dim"]
    ea = ExactIndex.load(a_dir.version_dir(), dim)  # the exact (numpy) reference backend
    eb = ExactIndex.load(b_dir.version_dir(), dim)
    ids_equal = sorted(ea.ids) == sorted(eb.ids)
    row_b = {cid: i for i, cid in enumerate(eb.ids)}
    order = [row_b[cid] for cid in ea.ids] if ids_equal else None
    vec_diff = float(np.max(np.abs(np.asarray(ea.vectors) - np.asarray(eb.vectors)[order]))) if ids_equal else None
    qv = a.encoder.encode_queries(queries)  # the same query vectors for both: only the indexes differ
    dense_same, dense_diff = 0, 0.0
    for ha, hb in zip(ea.search(qv, k), eb.search(qv, k), strict=True):
        same = [i for i, _ in ha] == [i for i, _ in hb]
        dense_same += same
        if same:
            dense_diff = max(dense_diff, max(abs(x - y) for (_, x), (_, y) in zip(ha, hb, strict=True)))
    lex_same, lex_diff = 0, 0.0
    for la, lb in zip(a.lexical.search_many(queries, k), b.lexical.search_many(queries, k), strict=True):
        same = [i for i, _ in la] == [i for i, _ in lb]
        lex_same += same
        if same:
            lex_diff = max(lex_diff, max(abs(x - y) for (_, x), (_, y) in zip(la, lb, strict=True)))
    return {
        "documents_equal": a_man["documents_digest"] == b_man["documents_digest"],
        "files_differing": differ,  # vectors.npy / faiss.index may differ in the last bits only
        "chunk_ids_equal": ids_equal,
        "max_vector_diff": vec_diff,
        "queries": len(queries),
        "dense_same_ids": dense_same,
        "dense_max_score_diff": dense_diff,
        "lexical_same_ids": lex_same,
        "lexical_max_score_diff": lex_diff,
        "lexical_num_docs": [a.lexical.retriever.scores["num_docs"], b.lexical.retriever.scores["num_docs"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=10_000, help="documents in the full build (MedQuAD has ~16,400)")
    ap.add_argument("--preset", default="default", help="config preset: default (fp32), fast (bf16 embedding)")
    ap.add_argument("--queries", type=int, default=200, help="queries compared (titles of final documents + touched ones)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", help="where corpora and indexes go (default: a temporary folder, removed after)")
    ap.add_argument("--out", help="also write the result as JSON here")
    args = ap.parse_args()

    config = load_config(preset=args.preset)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="kbqa-update-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        corp = make_corpora(args.docs, work, args.seed)
        print(f"corpus: {corp['counts']}", flush=True)
        idx, fresh = work / "idx", work / "fresh"
        for p in (idx, fresh):
            shutil.rmtree(p, ignore_errors=True)

        t = time.perf_counter()
        KnowledgeBase.build([corp["base"]], idx, config, progress=True)
        build_s = time.perf_counter() - t
        print(f"full build: {build_s:.1f} s", flush=True)

        t = time.perf_counter()
        report = update_index(idx, [corp["delta"]], delete_ids=corp["deleted"], progress=True)
        update_s = time.perf_counter() - t
        print(f"update: {update_s:.1f} s ({report.summary()})", flush=True)
        t = time.perf_counter()
        compacted = compact_index(idx)
        compact_s = time.perf_counter() - t
        print(f"compact: {compact_s:.1f} s ({compacted.summary()})", flush=True)

        t = time.perf_counter()
        KnowledgeBase.build([corp["final"]], fresh, config, progress=True)
        fresh_s = time.perf_counter() - t
        print(f"fresh build of the final corpus: {fresh_s:.1f} s", flush=True)

        touched = corp["touched"]
        queries = touched + corp["queries"][: max(0, args.queries - len(touched))]
        result = {
            "machine": f"{platform.machine()} {os.cpu_count()}-core CPU (shared), no GPU; load average "
            f"{os.getloadavg()[0]:.1f} at the end",
            "preset": args.preset,
            "corpus": corp["counts"],
            "build_seconds": round(build_s, 2),
            "update_seconds": round(update_s, 2),
            "compact_seconds": round(compact_s, 2),
            "fresh_build_seconds": round(fresh_s, 2),
            "update_over_build": round(update_s / build_s, 4),
            "update_report": {
                "added": len(report.added), "changed": len(report.changed), "removed": len(report.removed),
                "unchanged": report.unchanged, "chunks_embedded": report.chunks_embedded,
                "chunks_reused": report.chunks_reused,
            },
            "integrity_check_ok": check_index(idx).ok,
            "versus_fresh_build": compare(idx, fresh, config, queries, args.k),
        }
        v = result["versus_fresh_build"]
        result["targets_met"] = {
            "update <= 5% of build": result["update_over_build"] <= 0.05,
            "same ids": v["chunk_ids_equal"] and v["dense_same_ids"] == v["queries"] == v["lexical_same_ids"],
            "scores within 1e-5": v["dense_max_score_diff"] <= 1e-5 and v["lexical_max_score_diff"] <= 1e-5,
        }
        text = json.dumps(result, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n", encoding="utf-8")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
