"""Answer present vs answer absent: how often `ask` answers, and how well, when the index does or does not hold the evidence.

    nice -n 5 python benchmarks/answer_absent.py [--reader models/reader] [--out benchmarks/results/answer_absent.json]

For PubMedQA dev (100 questions, eval/splits/pubmedqa.json) and claims-dev (327 claims with a yes/no
label), the benchmark's corpus is indexed twice: whole ("present") and without every document its
qrels judge relevant ("absent": each question's own abstract or evidence sentences are missing, the
rest of the literature is there). Every question is asked over both with the default configuration
through `kbqa.evaluate.evaluate`, the scorer behind `kbqa eval --reader`, so the figures are
`report.json["answers"]`: the share answered (`coverage`), accuracy over all questions, accuracy
among the answered, ECE (10 bins) and why the rest abstained. Indexes are built once under
`indexes/` and reused (`--rebuild` to start over). Reads ../shared/data through the project's exporters.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCHMARKS = ("pubmedqa-dev", "claims-dev")


def export(name: str, folder: Path) -> None:
    """Write the benchmark files (corpus, questions, qrels) if they are not there."""
    if all((folder / f).is_file() for f in ("corpus.jsonl", "questions.jsonl", "qrels.tsv")):
        return
    if name == "pubmedqa-dev":
        from kbqa.evaluate.export import export_pubmedqa

        export_pubmedqa(folder)
    else:
        subprocess.run([sys.executable, str(ROOT / "eval/scripts/export_claims.py"), "--out", str(folder)], check=True)


def absent_corpus(folder: Path, out: Path) -> int:
    """``folder``'s corpus without the documents its qrels judge relevant; returns how many were left out."""
    from kbqa.evaluate.benchmark import load_qrels, load_questions
    from kbqa.jsonlines import iter_jsonl

    qids = [q.qid for q in load_questions(folder / "questions.jsonl")]
    relevant = {r.doc_id for r in load_qrels(folder / "qrels.tsv", question_ids=qids) if r.grade > 0}
    dropped = 0
    with out.open("w", encoding="utf-8") as f:
        for _, rec in iter_jsonl(folder / "corpus.jsonl"):
            if str(rec.get("id", rec.get("_id"))) in relevant:
                dropped += 1
                continue
            f.write(json.dumps(rec) + "\n")
    return dropped


def knowledge_base(corpus: Path, index: Path, rebuild: bool):
    from kbqa.index.store import IndexFolder
    from kbqa.pipeline import KnowledgeBase

    if IndexFolder(index).exists() and not rebuild:
        return KnowledgeBase.load(index)
    return KnowledgeBase.build([str(corpus)], index, overwrite=True, progress=True)


def summary(result, questions) -> dict:
    answers = result.report["answers"]
    return {
        "n": len(questions),
        "answered": round(answers["coverage"], 4),
        "accuracy_answered": round(answers["selective_accuracy"], 4),
        "accuracy_all": round(answers["accuracy"], 4),
        "ece": round(answers["ece"], 4),
        "abstained_insufficient_evidence": round(answers["insufficient_evidence"], 4),
        "majority_accuracy": round(result.report["baselines"]["majority"]["answers"]["accuracy"], 4),
    }


def main() -> None:
    from kbqa.evaluate.benchmark import load_questions
    from kbqa.evaluate.run import evaluate
    from kbqa.read.aggregate import AggregationParams
    from kbqa.read.answer import answer
    from kbqa.read.reader import Reader

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--benchmark", action="append", choices=BENCHMARKS, help="default: both")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the indexes")
    ap.add_argument("--off-topic-verdict", choices=("prior", "read"), default=None,
                    help="AggregationParams.off_topic_verdict (default: the default params')")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "answer_absent.json"))
    args = ap.parse_args()

    reader = Reader.load(args.reader)
    report: dict = {"machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), no GPU", "reader": args.reader,
                    "off_topic_verdict": args.off_topic_verdict or AggregationParams().off_topic_verdict,
                    "reader_sha256": reader.checksum, "k": args.k, "benchmarks": {}}
    print(f"{'benchmark':<14} {'index':<8} {'n':>4} {'answered':>9} {'acc answered':>13} {'acc all':>8} {'ECE':>6} "
          f"{'insufficient':>13} {'majority':>9}")
    for name in args.benchmark or BENCHMARKS:
        folder = ROOT / "eval" / "benchmarks" / name
        export(name, folder)
        questions = load_questions(folder / "questions.jsonl")
        absent = ROOT / "indexes" / f"{name}-absent.corpus.jsonl"
        absent.parent.mkdir(parents=True, exist_ok=True)
        dropped = absent_corpus(folder, absent)
        rows = {}
        for kind, corpus in (("present", folder / "corpus.jsonl"), ("absent", absent)):
            t0 = time.time()
            kb = knowledge_base(corpus, ROOT / "indexes" / (name if kind == "present" else f"{name}-absent"), args.rebuild)
            if args.off_topic_verdict:  # kb.ask with other aggregation params (what evaluate calls)
                kb.ask = functools.partial(answer, kb, params=AggregationParams(off_topic_verdict=args.off_topic_verdict))
            result = evaluate(kb, questions, reader=reader, k=args.k, progress=False)
            rows[kind] = {**summary(result, questions), "chunks": len(kb), "seconds": round(time.time() - t0, 1)}
            r = rows[kind]
            print(f"{name:<14} {kind:<8} {r['n']:>4} {r['answered']:>9.3f} {r['accuracy_answered']:>13.3f} "
                  f"{r['accuracy_all']:>8.3f} {r['ece']:>6.3f} {r['abstained_insufficient_evidence']:>13.3f} "
                  f"{r['majority_accuracy']:>9.3f}", flush=True)
        report["benchmarks"][name] = {"documents_left_out_when_absent": dropped, **rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
