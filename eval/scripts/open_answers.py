"""How often `kbqa ask` answers open questions, and whether its answer passages are judged relevant.

Reads the answers of `kbqa ask --input Q.jsonl --out A.jsonl` and the benchmark's qrels: for the
questions typed ``open``, the share answered (not abstained: at least one passage of the question's type
about its focus), and among those the share whose answer passages include a judged-relevant document
(any of them / the first).

    kbqa ask --index IDX --input questions.jsonl --out answers.jsonl
    python eval/scripts/open_answers.py --answers answers.jsonl --qrels qrels.tsv [--out F.json]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--answers", required=True)
    ap.add_argument("--qrels", required=True)
    ap.add_argument("--out")
    args = ap.parse_args()
    relevant: dict[str, set[str]] = defaultdict(set)
    for line in Path(args.qrels).read_text().splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].lstrip("-").isdigit() and int(parts[3]) > 0:
            relevant[parts[0]].add(parts[2])
    rows = [json.loads(line) for line in Path(args.answers).read_text().splitlines() if line.strip()]
    open_rows = [r for r in rows if r["question_type"] == "open"]
    answered = [r for r in open_rows if not r["abstained"]]
    any_rel = [r for r in answered if {p["doc_id"] for p in r["answer_passages"]} & relevant[r["id"]]]
    first_rel = [r for r in answered if r["answer_passages"][0]["doc_id"] in relevant[r["id"]]]
    out = {"questions": len(rows), "open": len(open_rows), "answered": len(answered),
           "answered_share": round(len(answered) / max(len(open_rows), 1), 4),
           "answered_with_a_relevant_passage": round(len(any_rel) / max(len(answered), 1), 4),
           "first_passage_relevant": round(len(first_rel) / max(len(answered), 1), 4),
           "passages_per_answer": round(sum(len(r["answer_passages"]) for r in answered) / max(len(answered), 1), 2)}
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
