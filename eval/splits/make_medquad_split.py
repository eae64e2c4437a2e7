"""Make the committed MedQuAD split (eval/splits/medquad.json). Rerunning reproduces it exactly.

Answered question-answer pairs are grouped by topic (``Focus``, case-insensitive), so sibling
questions about the same focus (and the same focus told by two collections) never straddle
train/dev. Groups are shuffled with a fixed seed and taken into dev until it holds at least
N_DEV questions; everything else is train (a later reranker trains on it). Ids are the medquad
loader's pair ids (``GARD:0000004-1``).

    python eval/splits/make_medquad_split.py ../shared/data/medquad
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path

SEED = 20261129
N_DEV = 500


def main(path: str) -> None:
    from kbqa.evaluate.export import focus_key, medquad_pairs

    pairs = medquad_pairs(path)
    groups: dict[str, list[str]] = {}
    digest = hashlib.sha256()
    for doc in sorted(pairs, key=lambda d: d.doc_id):
        groups.setdefault(focus_key(doc), []).append(doc.doc_id)
        digest.update(f"{doc.doc_id}\t{doc.text}\n".encode())
    keys = sorted(groups)
    random.Random(SEED).shuffle(keys)
    dev: list[str] = []
    dev_groups: list[str] = []
    for key in keys:
        if len(dev) >= N_DEV:
            break
        dev += groups[key]
        dev_groups.append(key)
    dev_set = set(dev)
    train = sorted(d.doc_id for d in pairs if d.doc_id not in dev_set)
    collections = Counter(d.meta.get("collection") for d in pairs if d.doc_id in dev_set)
    out = {
        "dataset": "medquad",
        "source_dir": "medquad/",
        "pairs_sha256": digest.hexdigest(),
        "seed": SEED,
        "method": f"answered pairs grouped by focus (case-insensitive); groups shuffled, dev takes groups "
        f"until >= {N_DEV} questions; rest train",
        "counts": {
            "pairs": len(pairs),
            "groups": len(groups),
            "train": len(train),
            "dev": len(dev),
            "dev_groups": len(dev_groups),
            "dev_collections": dict(sorted(collections.items())),
        },
        "dev_focus": sorted(dev_groups),
        "dev": sorted(dev),
        "train": train,
    }
    dest = Path(__file__).with_name("medquad.json")
    dest.write_text(json.dumps(out, indent=0) + "\n")
    print(f"wrote {dest}: {out['counts']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/medquad")
