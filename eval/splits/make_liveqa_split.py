"""Make the committed LiveQA split (eval/splits/liveqa.json). Rerunning reproduces it exactly.

The 446 TREC 2017 LiveQA medical training questions are kbqa's dev set of *real* consumer questions
(``kbqa eval export liveqa``): every question is ``dev`` and nothing trains on them by default. For
experiments that do learn from them, the questions are cut into 5 folds (seeded shuffle): train on four,
evaluate on the fifth, never on a question of the evaluated fold.

    python eval/splits/make_liveqa_split.py ../shared/data/liveqa_train
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

SEED = 20261204
N_FOLDS = 5


def main(folder: str) -> None:
    from kbqa.corpus.liveqa import read_folder

    files = sorted(Path(folder).glob("*.xml"))
    digest = hashlib.sha256(b"".join(hashlib.sha256(f.read_bytes()).digest() for f in files)).hexdigest()
    ids = [q.qid for q in read_folder(folder)]
    order = sorted(ids)
    random.Random(SEED).shuffle(order)
    folds = [sorted(order[k::N_FOLDS]) for k in range(N_FOLDS)]
    out = {
        "dataset": "liveqa",
        "source_dir": "liveqa_train/",
        "source_sha256": digest,
        "seed": SEED,
        "method": f"every question is dev (nothing trains on them by default); {N_FOLDS} seeded folds for "
                  "cross-validated experiments",
        "counts": {"dev": len(ids), "folds": [len(f) for f in folds]},
        "train": [],
        "dev": sorted(ids),
        "folds": folds,
    }
    dest = Path(__file__).with_name("liveqa.json")
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest}: {out['counts']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/liveqa_train")
