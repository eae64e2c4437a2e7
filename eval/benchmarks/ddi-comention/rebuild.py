"""Rebuild the co-mention dev set's sentences from the datasets and check them against the definition.

    python eval/benchmarks/ddi-comention/rebuild.py [--mirror ../shared/data] [--out sentences.jsonl]

Reads MedQuAD and PubMedQA through their corpus recipes (checksum-verified), cuts every sentence at
the definition's offsets and checks its sha256 and the two drug mentions (kbqa.ddi.comention); a
mismatch stops with the definition's file and line. ``--out`` writes the sentences with their text
(a copy of dataset text: do not commit it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from kbqa.ddi.comention import corpus_documents, load_definition, materialise  # noqa: E402
from kbqa.errors import KbqaError  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--definition", default=str(HERE / "definition.jsonl"))
    ap.add_argument("--mirror", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=None, help="write the sentences (with text) here")
    args = ap.parse_args()
    try:
        items = load_definition(args.definition)
        docs = corpus_documents(mirror=args.mirror, wanted={it.doc_id for it in items})
        sentences = materialise(items, docs, args.definition)
    except KbqaError as exc:
        print(f"rebuild: {exc}", file=sys.stderr)
        return 2
    counts = Counter((s.item.source, s.item.label) for s in sentences)
    print(f"{len(sentences)} sentences rebuilt and checked: "
          + ", ".join(f"{src} {lab} {n}" for (src, lab), n in sorted(counts.items())))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for s in sentences:
                fh.write(json.dumps({"id": s.item.id, "text": s.text, "label": s.item.label}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
