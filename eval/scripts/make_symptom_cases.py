"""Write the dev proxy for `kbqa eval classifier --cv 5`: short description-like passages about 24 common
conditions, cut from MedQuAD's answers, with the condition's names masked.

The goal set (held out, not in this repository) is ~1,200 patient-written symptom descriptions of 24
common conditions, ~50 per label. This proxy has the same shape: 24 labels x 50 rows of 15-60 words,
taken from the symptoms / information / causes / complications / susceptibility / exams answers of each
condition's MedQuAD documents (NIH consumer pages), one passage = consecutive sentences of one answer,
each condition's names and abbreviations replaced by "this condition" so that the label is not written
in the text. It is clinical-leaflet language, not patients' own words: a check of the machinery and of
the time budget, not of lay language.

    python eval/scripts/make_symptom_cases.py --out runs/symptom-cases.csv [--data ../shared/data/medquad]

Columns: id, text, label, source (the MedQuAD pair id). Deterministic (seed 0). The data is never
committed; this script is its definition.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# label -> (MedQuAD focus, lower case; extra names/abbreviations masked besides the focus itself)
CONDITIONS: dict[str, tuple[str, list[str]]] = {
    "high blood pressure": ("high blood pressure", ["hypertension", "hypertensive", "HBP"]),
    "stroke": ("stroke", ["strokes", "transient ischemic attacks?", "TIAs?", "brain attacks?"]),
    "heart attack": ("heart attack", ["heart attacks", "myocardial infarctions?", "MI"]),
    "heart failure": ("heart failure", ["congestive heart failure", "HF"]),
    "osteoporosis": ("osteoporosis", ["osteoporotic"]),
    "diabetes": ("diabetes", ["diabetic", "diabetics"]),
    "parkinson's disease": ("parkinson's disease", ["parkinson's", "parkinsons", "parkinson", "parkinsonism", "PD"]),
    "alzheimer's disease": ("alzheimer's disease", ["alzheimer's", "alzheimers", "alzheimer", "AD"]),
    "shingles": ("shingles", ["herpes zoster", "zoster", "postherpetic neuralgia", "PHN"]),
    "gout": ("gout", ["gouty"]),
    "asthma": ("asthma", ["asthmatic"]),
    "copd": ("copd", ["chronic obstructive pulmonary disease", "emphysema", "chronic bronchitis"]),
    "pneumonia": ("pneumonia", ["pneumonias"]),
    "rheumatoid arthritis": ("rheumatoid arthritis", ["RA", "rheumatoid"]),
    "osteoarthritis": ("osteoarthritis", ["OA"]),
    "celiac disease": ("celiac disease", ["celiac", "coeliac"]),
    "crohn's disease": ("crohn's disease", ["crohn's", "crohn", "crohns"]),
    "cataract": ("cataract", ["cataracts"]),
    "depression": ("depression", ["depressive", "major depression"]),
    "anxiety disorders": ("anxiety disorders", ["anxiety disorder", "generalized anxiety disorder", "GAD",
                                                "panic disorder"]),
    "sleep apnea": ("sleep apnea", ["apnea", "apneas"]),
    "urinary tract infection": ("urinary tract infections", ["urinary tract infection", "UTIs?", "cystitis",
                                                             "bladder infections?", "kidney infections?"]),
    "atrial fibrillation": ("atrial fibrillation", ["AF", "AFib", "A-fib"]),
    "multiple sclerosis": ("multiple sclerosis", ["MS"]),
}
# other MedQuAD documents about the same condition
EXTRA_FOCI = {"urinary tract infection": ["urinary tract infection in adults", "urinary tract infections in children"]}
QTYPES = {"symptoms", "information", "causes", "complications", "susceptibility", "exams and tests"}
PER_LABEL = 50
MIN_WORDS, MAX_WORDS = 15, 60
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")


def masker(focus: str, names: list[str]) -> re.Pattern[str]:
    alternatives = sorted({re.escape(focus)} | {n if "?" in n else re.escape(n) for n in names}, key=len, reverse=True)
    # abbreviations (all capitals) match case-sensitively, names case-insensitively
    caps = [a for a in alternatives if a.replace("\\", "").replace("?", "").replace("-", "").isupper()]
    words = [a for a in alternatives if a not in caps]
    parts = [f"(?i:{'|'.join(words)})"] + ([f"(?:{'|'.join(caps)})"] if caps else [])
    return re.compile(r"\b(?:" + "|".join(parts) + r")\b")


def passages(text: str) -> list[str]:
    """Consecutive sentences of one answer grouped into passages of MIN_WORDS-MAX_WORDS words."""
    out, current = [], []
    for sentence in SENTENCE.split(" ".join(text.split())):
        words = sentence.split()
        if len(words) > MAX_WORDS or sentence.endswith(":") or "Human Phenotype Ontology" in sentence:
            current = []  # lists and long sentences break the run
            continue
        if sum(len(s.split()) for s in current) + len(words) > MAX_WORDS:
            if sum(len(s.split()) for s in current) >= MIN_WORDS:
                out.append(" ".join(current))
            current = []
        current.append(sentence)
    if sum(len(s.split()) for s in current) >= MIN_WORDS:
        out.append(" ".join(current))
    return out


def main() -> int:
    import pandas as pd

    from kbqa.evaluate.export import medquad_pairs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "medquad"))
    ap.add_argument("--out", default="runs/symptom-cases.csv")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    focus_label = {focus: label for label, (focus, _) in CONDITIONS.items()}
    focus_label |= {focus: label for label, foci in EXTRA_FOCI.items() for focus in foci}
    masks = {label: masker(focus, names) for label, (focus, names) in CONDITIONS.items()}
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for doc in medquad_pairs(args.data):
        label = focus_label.get(str(doc.meta.get("focus", "")).lower().strip())
        if label is None or doc.meta.get("qtype") not in QTYPES:
            continue
        for k, passage in enumerate(passages(doc.text)):
            masked = masks[label].sub("this condition", passage)
            found[label].append((f"{doc.doc_id}#{k}", masked))
    rng = random.Random(args.seed)
    rows = []
    for label in CONDITIONS:
        pool = sorted(set(found[label]))
        if len(pool) < PER_LABEL:
            print(f"warning: {label}: only {len(pool)} passages", file=sys.stderr)
        for source, text in rng.sample(pool, min(PER_LABEL, len(pool))):
            rows.append({"text": text, "label": label, "source": source})
    rng.shuffle(rows)
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", [f"case-{i:04d}" for i in range(1, len(frame) + 1)])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    words = frame["text"].str.split().str.len()
    print(f"wrote {args.out}: {len(frame)} rows, {frame['label'].nunique()} labels, "
          f"{words.mean():.0f} words per row (min {words.min()}, max {words.max()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
