"""Make the committed PubMedQA split (eval/splits/pubmedqa.json). Rerunning reproduces it exactly.

Stratified by final_decision with a fixed seed: 100 dev PMIDs (20%), 400 train PMIDs, and the
train part cut into 5 stratified folds for cross-validated model selection. The official test half
of PubMedQA is withheld upstream and is never reconstructed here.

    python eval/splits/make_pubmedqa_split.py ../shared/data/pubmedqa/pqal_traindev.json
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

SEED = 20261129
N_DEV = 100
N_FOLDS = 5


def main(path: str) -> None:
    raw = Path(path).read_bytes()
    data = json.loads(raw)
    by_label: dict[str, list[str]] = {}
    for pmid, item in sorted(data.items()):
        by_label.setdefault(item["final_decision"], []).append(pmid)
    rng = random.Random(SEED)
    dev: list[str] = []
    train: list[str] = []
    for label in sorted(by_label):
        ids = by_label[label][:]
        rng.shuffle(ids)
        n = round(len(ids) * N_DEV / len(data))
        dev += ids[:n]
        train += ids[n:]
    folds: list[list[str]] = [[] for _ in range(N_FOLDS)]
    for label in sorted(by_label):
        ids = [i for i in train if data[i]["final_decision"] == label]
        rng.shuffle(ids)
        for j, pmid in enumerate(ids):
            folds[j % N_FOLDS].append(pmid)
    out = {
        "dataset": "pubmedqa",
        "source_file": "pubmedqa/pqal_traindev.json",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "seed": SEED,
        "method": f"stratified by final_decision; {N_DEV} dev, rest train; train cut into {N_FOLDS} stratified folds",
        "counts": {
            "train": len(train),
            "dev": len(dev),
            "dev_labels": {l: sum(data[i]["final_decision"] == l for i in dev) for l in sorted(by_label)},
        },
        "train": sorted(train),
        "dev": sorted(dev),
        "folds": [sorted(f) for f in folds],
    }
    dest = Path(__file__).with_name("pubmedqa.json")
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest}: {out['counts']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/pubmedqa/pqal_traindev.json")
