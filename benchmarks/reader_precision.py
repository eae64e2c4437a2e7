"""Reader arithmetic: fp32 against bf16 autocast, in one run on the same inputs.

    OMP_NUM_THREADS=2 python benchmarks/reader_precision.py [--reader models/reader] \
        [--index indexes/medquad-dev-tuned --questions eval/benchmarks/medquad-dev/questions.jsonl \
         --questions eval/benchmarks/pubmedqa-dev/questions.jsonl] \
        [--threads 2] [--out benchmarks/results/reader_precision.json]

On the PubMedQA dev PMIDs of eval/splits/pubmedqa.json it reads (a) the reasoning-required inputs
(question + abstract without conclusion, 288 tokens) and (b) question + each conclusion sentence
(the short inputs ``kbqa ask`` reads for its verdict and highlights), with both precisions:
seconds and the fp32/bf16 speed ratio, label agreement, the largest change of a calibrated
probability, and accuracy / macro-F1 under each. With ``--index`` it also times whole ``kb.ask``
calls (k = 10, p50 over ``--n`` questions after a warm-up) under each precision. ``auto`` (the
default of ``Reader.load``) picks bf16 only where the hardware runs it natively.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "pubmedqa" / "pqal_traindev.json"


def timed(reader, pairs, repeats: int = 2) -> tuple[np.ndarray, float]:
    """Calibrated probabilities and the best of ``repeats`` wall times (after a short warm-up)."""
    reader.predict_proba(pairs[:4])
    best, probs = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        probs = reader.predict_proba(pairs)
        best = min(best, time.perf_counter() - t)
    return probs, best


def ask_p50(kb, reader, questions: list[str]) -> float:
    kb.ask(questions[0], k=10, reader=reader)
    times = []
    for q in questions:
        t = time.perf_counter()
        kb.ask(q, k=10, reader=reader)
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    import torch

    from kbqa.evaluate import metrics as M
    from kbqa.read import data as rdata
    from kbqa.read.reader import Reader
    from kbqa.text import sentence_spans
    from kbqa.precision import resolve as resolve_precision

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--index", help="an index folder: also time kb.ask under each precision")
    ap.add_argument("--questions", action="append", default=[],
                    help="questions JSONL for --index ({'question'} per line); repeatable, each timed on its own")
    ap.add_argument("--n", type=int, default=30, help="questions timed with --index")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reader_precision.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    items = rdata.load_pubmedqa(args.data)
    dev = rdata.split_items(items, rdata.load_split()["dev"])
    gold = [it.label for it in dev]
    contexts = [(e.text, e.text_pair) for e in rdata.pubmedqa_examples(dev, "reasoning")]
    short = [(it.question, it.long_answer[a:b]) for it in dev for a, b in sentence_spans(it.long_answer, lists=False)]

    readers = {p: Reader.load(args.reader, precision=p) for p in ("fp32", "bf16")}
    labels = readers["fp32"].labels
    report: dict = {
        "machine": f"{os.cpu_count()}-core CPU ({platform.machine()}), no GPU, torch threads {args.threads}",
        "auto_resolves_to": resolve_precision("auto", "cpu").name,
        "reader": args.reader, "reader_sha256": readers["fp32"].checksum,
        "split": "eval/splits/pubmedqa.json dev (100 PMIDs)",
    }
    for name, pairs in (("reasoning_required_288_tokens", contexts), ("conclusion_sentences", short)):
        out = {p: timed(r, pairs) for p, r in readers.items()}
        (pa, ta), (pb, tb) = out["fp32"], out["bf16"]
        row = {"pairs": len(pairs), "fp32_s": round(ta, 2), "bf16_s": round(tb, 2), "speedup": round(ta / tb, 2),
               "label_agreement": round(float((pa.argmax(1) == pb.argmax(1)).mean()), 4),
               "max_abs_prob_diff": round(float(np.abs(pa - pb).max()), 4),
               "mean_abs_prob_diff": round(float(np.abs(pa - pb).mean()), 5)}
        if len(pairs) == len(gold):
            for p, (probs, _) in out.items():
                pred = [labels[i] for i in probs.argmax(1)]
                row[f"{p}_accuracy"] = round(M.accuracy(gold, pred), 4)
                row[f"{p}_macro_f1"] = round(M.macro_f1(gold, pred), 4)
        report[name] = row
        print(name, json.dumps(row), flush=True)

    if args.index:
        from kbqa.pipeline import KnowledgeBase
        from kbqa.read.question import question_type

        if not args.questions:
            ap.error("--index needs --questions")
        kb = KnowledgeBase.load(args.index)
        report["ask"] = []
        for path in args.questions:
            qs = [json.loads(line)["question"] for line in Path(path).read_text().splitlines() if line.strip()]
            asked = qs[: args.n]
            kinds = sorted({question_type(q) for q in asked})
            row = {"index": args.index, "chunks": len(kb), "questions": path, "n": len(asked), "question_types": kinds}
            for p, r in readers.items():
                row[f"{p}_ask_p50_ms"] = ask_p50(kb, r, asked)
            row["speedup"] = round(row["fp32_ask_p50_ms"] / row["bf16_ask_p50_ms"], 2)
            report["ask"].append(row)
            print("ask", json.dumps(row), flush=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
