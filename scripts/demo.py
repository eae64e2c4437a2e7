"""The README's main command (`make demo`): build the demo index once, then show cited answers and one
diagnosis (ranked candidate conditions with their evidence).

Index: PubMedQA's 500 expert-labelled abstracts plus the MedQuAD NINDS, SeniorHealth and NIDDK
answers, read from ../shared/data through the corpus recipes' local mirror. Later runs reuse it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
MEDQUAD = ROOT.parent / "shared" / "data" / "medquad"
SOURCES = [
    "pubmedqa",  # recipe name: resolved (and checksum-verified) through the mirror
    str(MEDQUAD / "6_NINDS_QA"),
    str(MEDQUAD / "7_SeniorHealth_QA"),
    str(MEDQUAD / "5_NIDDK_QA"),
]
QUERIES = [
    "treatment options for restless legs syndrome",
    "risk factors for kidney stones",
    "does exercise help older adults with balance problems",
]
QUESTIONS = [  # two the demo index holds the evidence for, one it does not (abstains), one open question
    "Does loss of consciousness predict neuropsychological problems after concussion?",
    "Is extended aortic replacement justified in acute type A dissection?",
    "Does metformin increase the risk of lactic acidosis?",
    "What are the symptoms of Guillain-Barre syndrome?",
]
DESCRIPTION = "burning when I pee, I need to go all the time, and my pee is cloudy and smells bad"  # one diagnosis


def main() -> int:
    from kbqa.disclaimer import DISCLAIMER
    from kbqa.errors import KbqaError
    from kbqa.index.store import IndexFolder
    from kbqa.pipeline import KnowledgeBase
    from kbqa.serialize import citation

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--index", default=str(ROOT / "indexes" / "demo"))
    ap.add_argument("--reader", default=str(ROOT / "models" / "reader"))
    args = ap.parse_args()

    started = time.perf_counter()
    try:
        if IndexFolder(args.index).exists():
            kb = KnowledgeBase.load(args.index)
            print(f"using the demo index at {args.index} ({len(kb)} chunks); `make clean-index` rebuilds it")
        else:
            print(f"building the demo index at {args.index} from {', '.join(Path(s).name for s in SOURCES)} ...")
            kb = KnowledgeBase.build(SOURCES, args.index)
            c = kb.manifest["counts"]
            print(f"indexed {c['documents']} documents as {c['chunks']} chunks in {kb.manifest['build_seconds']:.0f} s")
    except KbqaError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2

    print("\n=== search: cited passages ===")
    for query, hits in zip(QUERIES, kb.search_many(QUERIES, k=3)):
        print(f"\n> {query}")
        for rank, hit in enumerate(hits, 1):
            text = " ".join(hit.text.split())
            print(f"  [{rank}] {hit.score:.3f} {citation(hit.meta, hit.doc_id, hit.title)}")
            print(f"      {text[:220]}{'…' if len(text) > 220 else ''}")

    print("\n=== ask: verdicts with evidence ===")
    has_reader = (Path(args.reader) / "config.json").is_file()
    if not has_reader:
        print(f"(no reader at {args.reader}; train one with `kbqa train reader --data ../shared/data/pubmedqa/pqal_traindev.json --out {args.reader}`)")
    else:
        from kbqa.read import Reader
        from kbqa.cli.read import format_answer

        reader = Reader.load(args.reader)
        for question in QUESTIONS:
            print()
            print(format_answer(kb.ask(question, k=10, reader=reader)))

    print("\n=== diagnose: candidate conditions with evidence ===")
    from kbqa.cli.diagnose import render_table
    from kbqa.diagnose import diagnose

    print(f"\n> {DESCRIPTION}")
    print(render_table(diagnose(kb, DESCRIPTION, k=5)))
    if not has_reader:  # every printed answer already carries it
        print(f"\n{DISCLAIMER}")
    print(f"(demo finished in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
