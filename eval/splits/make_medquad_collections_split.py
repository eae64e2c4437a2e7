"""Make the committed MedQuAD split *by collection* (eval/splits/medquad-collections.json).

MedQuAD's random split (eval/splits/medquad.json, by focus) lets a model learn each collection's
question templates ("What are the symptoms of X?") on train and meet them again on dev. This split
holds out whole collections instead: dev = every answered pair of the held-out collections (default CDC
and NIHSeniorHealth, 1,039 pairs, templates of their own); train = the pairs of the other collections
whose focus (case-insensitive) is not a dev focus, so neither a template nor a topic is shared. Pairs of
other collections on a dev focus are in neither part (``excluded``). Deterministic: no randomness.

    python eval/splits/make_medquad_collections_split.py ../shared/data/medquad [--dev CDC,NIHSeniorHealth]

Use: ``kbqa eval export medquad --split eval/splits/medquad-collections.json --out
eval/benchmarks/medquad-collections-dev`` (the corpus is every answer, as for medquad-dev) and
``kbqa train embedder --split medquad=eval/splits/medquad-collections.json ...``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

DEV_COLLECTIONS = ("CDC", "NIHSeniorHealth")


def make(path: str, dev_collections: tuple[str, ...] = DEV_COLLECTIONS) -> dict:
    from kbqa.evaluate.export import focus_key, medquad_pairs

    pairs = sorted(medquad_pairs(path), key=lambda d: d.doc_id)
    known = sorted({str(d.meta.get("collection")) for d in pairs})
    unknown = [c for c in dev_collections if c not in known]
    if unknown:
        raise SystemExit(f"unknown collection(s) {unknown}; MedQuAD has {known}")
    digest = hashlib.sha256()
    for doc in pairs:
        digest.update(f"{doc.doc_id}\t{doc.text}\n".encode())
    dev = [d for d in pairs if d.meta.get("collection") in dev_collections]
    dev_focus = {focus_key(d) for d in dev}
    rest = [d for d in pairs if d.meta.get("collection") not in dev_collections]
    train = [d.doc_id for d in rest if focus_key(d) not in dev_focus]
    excluded = [d.doc_id for d in rest if focus_key(d) in dev_focus]
    return {
        "dataset": "medquad",
        "source_dir": "medquad/",
        "pairs_sha256": digest.hexdigest(),
        "method": f"held-out collections {list(dev_collections)}: dev = all their answered pairs; train = the "
        "other collections' pairs whose focus (case-insensitive) is not a dev focus; the rest excluded",
        "dev_collections": list(dev_collections),
        "counts": {
            "pairs": len(pairs),
            "dev": len(dev),
            "train": len(train),
            "excluded": len(excluded),
            "dev_focus": len(dev_focus),
            "train_collections": dict(sorted(Counter(str(d.meta.get("collection")) for d in rest
                                                     if focus_key(d) not in dev_focus).items())),
        },
        "dev": [d.doc_id for d in dev],
        "train": train,
        "excluded": excluded,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("medquad", nargs="?", default="../shared/data/medquad")
    ap.add_argument("--dev", default=",".join(DEV_COLLECTIONS), help="comma-separated collections held out")
    ap.add_argument("--out", default=str(Path(__file__).with_name("medquad-collections.json")))
    args = ap.parse_args()
    out = make(args.medquad, tuple(c.strip() for c in args.dev.split(",") if c.strip()))
    Path(args.out).write_text(json.dumps(out, indent=0) + "\n")
    print(f"wrote {args.out}: {out['counts']}")


if __name__ == "__main__":
    main()
