"""Make the committed question-type split (eval/splits/qtype.json). Rerunning reproduces it exactly.

Every typed MedQuAD question (all 12 collections, answered or not: 47,457) is grouped by focus
(case-insensitive, as eval/splits/medquad.json groups), so no condition or medicine is in two parts.
``test`` (held out: the figures reported in models/qtype/MODEL_CARD.md) holds every focus of
medquad.json's dev part (so the medquad-dev retrieval benchmark asks questions the classifier never saw),
then seeded-shuffled groups until it has >= N_TEST questions; ``dev`` (epoch choice, calibration) takes
the next groups until >= N_DEV; the rest is ``train``. Ids are the medquad loader's pair ids.

    python eval/splits/make_qtype_split.py ../shared/data/medquad
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections import Counter
from pathlib import Path

SEED = 20261205
N_TEST = 5000
N_DEV = 2500


def focus_key(focus: str, collection: str, pair_id: str) -> str:
    key = " ".join(focus.lower().split())
    return key or f"{collection}:{pair_id.rpartition('-')[0]}"


def main(path: str) -> None:
    from kbqa.corpus.medquad import iter_typed_questions
    from kbqa.intent.types import from_medquad
    from kbqa.paths import load_split

    questions = sorted(iter_typed_questions(path), key=lambda q: q.pair_id)
    digest = hashlib.sha256()
    groups: dict[str, list[str]] = {}
    for q in questions:
        groups.setdefault(focus_key(q.focus, q.collection, q.pair_id), []).append(q.pair_id)
        digest.update(f"{q.pair_id}\t{q.question}\t{q.qtype}\n".encode())
    held = set(load_split("medquad")["dev_focus"])
    keys = sorted(groups)
    random.Random(SEED).shuffle(keys)
    keys = [k for k in keys if k in held] + [k for k in keys if k not in held]
    parts: dict[str, list[str]] = {"test": [], "dev": [], "train": []}
    focus: dict[str, list[str]] = {"test": [], "dev": []}
    for key in keys:
        part = "test" if len(parts["test"]) < N_TEST or key in held else "dev" if len(parts["dev"]) < N_DEV else "train"
        parts[part] += groups[key]
        if part != "train":
            focus[part].append(key)
    qtype = {q.pair_id: from_medquad(q.qtype) for q in questions}
    out = {
        "dataset": "medquad-qtype",
        "source_dir": "medquad/",
        "questions_sha256": digest.hexdigest(),
        "seed": SEED,
        "method": f"all typed questions grouped by focus (case-insensitive); test = medquad.json's dev foci, then "
                  f"shuffled groups until >= {N_TEST} questions; dev = next groups until >= {N_DEV}; rest train",
        "counts": {
            "questions": len(questions),
            "groups": len(groups),
            **{part: len(ids) for part, ids in parts.items()},
            "test_types": dict(sorted(Counter(qtype[i] for i in parts["test"]).items())),
        },
        "test_focus": sorted(focus["test"]),
        "dev_focus": sorted(focus["dev"]),
        "test": sorted(parts["test"]),
        "dev": sorted(parts["dev"]),
        "train": sorted(parts["train"]),
    }
    dest = Path(__file__).with_name("qtype.json")
    dest.write_text(json.dumps(out, indent=0) + "\n")
    print(f"wrote {dest}: {out['counts']}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/medquad")
