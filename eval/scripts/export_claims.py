"""Write the claims-dev retrieval benchmark (not from MedQuAD): claim -> its evidence sentences.

Questions are the distinct claims of each dataset's ``dev.jsonl`` under ``../shared/data/claims``
(Check-COVID, SciFact) that have at least one evidence row (label yes or no: the text supports or
contradicts the claim); ``maybe`` rows pair a claim with unrelated text and give no judgement.
The corpus is every distinct context of all files (train, dev, test) of those datasets, id
``<dataset>:<sha1 of the whitespace-normalised text, 12 hex>``, the same ids as the training
pairs of ``kbqa.tune.pairs`` (which leave out every dev/test context). Qrels: grade 1 per evidence.
A claim's ``answer`` is its evidence label (yes: supported, no: refuted) when all its evidence rows
agree, so ``kbqa eval --reader`` also scores verdicts (out of the reader's training domain).

    python eval/scripts/export_claims.py --out eval/benchmarks/claims-dev
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path

from kbqa.evaluate.benchmark import Qrel, Question, write_benchmark
from kbqa.jsonlines import iter_jsonl
from kbqa.files import sha256_file


def export_claims(root: Path, out: Path, part: str = "dev") -> dict:
    corpus: dict[str, dict] = {}
    questions: dict[str, Question] = {}
    qrels: set[tuple[str, str]] = set()
    answers: dict[str, set[str]] = {}
    files = {}
    for ds in sorted(p for p in root.iterdir() if (p / f"{part}.jsonl").is_file()):
        for split_file in sorted(ds.glob("*.jsonl")):
            files[str(split_file)] = sha256_file(split_file)
            for _, row in iter_jsonl(split_file, required=("question", "context", "label")):
                context = " ".join(str(row["context"]).split())
                if not context:
                    continue
                doc_id = f"{ds.name}:{hashlib.sha1(context.encode()).hexdigest()[:12]}"
                corpus.setdefault(doc_id, {"id": doc_id, "text": context, "source": ds.name})
                claim = str(row["question"]).strip()
                if split_file.stem != part or row["label"] not in ("yes", "no") or not claim:
                    continue
                qid = f"{ds.name}:{hashlib.sha1(claim.encode()).hexdigest()[:10]}"
                questions.setdefault(qid, Question(qid, claim, None, {"dataset": ds.name}))
                answers.setdefault(qid, set()).add(row["label"])
                qrels.add((qid, doc_id))
    for qid, labels in answers.items():
        if len(labels) == 1:
            questions[qid] = dataclasses.replace(questions[qid], answer=next(iter(labels)))
    counts = write_benchmark(
        out, corpus.values(), questions.values(), [Qrel(q, d, 1) for q, d in sorted(qrels)]
    )
    info = {
        "benchmark": f"claims-{part}",
        "questions": f"distinct claims of <dataset>/{part}.jsonl with >= 1 evidence row (label yes/no)",
        "corpus": "every distinct context of every file of those datasets",
        "qrels": "evidence contexts of the claim, grade 1",
        "answers": "the evidence label (yes/no) where all the claim's evidence rows agree",
        "counts": counts,
        "data_sha256": files,
        "sha256": {n: sha256_file(out / n) for n in ("corpus.jsonl", "questions.jsonl", "qrels.tsv")},
    }
    (out / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/claims")
    ap.add_argument("--out", default="eval/benchmarks/claims-dev")
    args = ap.parse_args()
    info = export_claims(Path(args.data), Path(args.out))
    print(f"wrote {args.out}: {info['counts']}")


if __name__ == "__main__":
    main()
