"""Make eval/splits/ddi2013.json: a train/dev split of the DDI 2013 training part BY DOCUMENT.

Splitting by document keeps sentences of one drug label / abstract on one side, so dev measures
generalisation to unseen documents (as the official test part does). 15% of the documents of each
collection (DrugBank, MedLine) go to dev, drawn with random.Random(SEED). Rerun:

    python eval/splits/make_ddi_split.py --data ../shared/data/ddi2013/Train --out eval/splits/ddi2013.json
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

SEED = 2013
DEV_FRACTION = 0.15


def main() -> None:
    from kbqa.ddi.corpus import read_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/ddi2013/Train")
    ap.add_argument("--out", default="eval/splits/ddi2013.json")
    args = ap.parse_args()
    docs = read_corpus(args.data)
    rng = random.Random(SEED)
    dev: list[str] = []
    for collection in ("DrugBank", "MedLine"):
        ids = sorted(d.doc_id for d in docs if d.collection == collection)
        rng.shuffle(ids)
        dev += ids[: round(len(ids) * DEV_FRACTION)]
    dev_set = set(dev)
    train = sorted(d.doc_id for d in docs if d.doc_id not in dev_set)

    def counts(ids: set[str]) -> dict[str, int]:
        c = Counter(p.label for d in docs if d.doc_id in ids for s in d.sentences for p in s.pairs)
        return dict(sorted(c.items()))

    out = {
        "dataset": "DDI Extraction 2013, training part (DrugBank + MedLine)",
        "unit": "document",
        "seed": SEED,
        "dev_fraction": DEV_FRACTION,
        "maker": "eval/splits/make_ddi_split.py",
        "pair_counts": {"train": counts(set(train)), "dev": counts(dev_set)},
        "train": train,
        "dev": sorted(dev),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"train {len(train)} docs {out['pair_counts']['train']}\ndev {len(dev)} docs {out['pair_counts']['dev']}")


if __name__ == "__main__":
    main()
