"""Write the diagnosis dev benchmark (cases.jsonl + names.json) from MedQuAD; never commit its output.

    python eval/benchmarks/diagnose-dev/make_cases.py --data ../shared/data/medquad --out /tmp/diagnose-dev

Every case is a MedQuAD symptom answer ("What are the symptoms of X?") of the collections that cover
common conditions (NIDDK, NHLBI, NIHSeniorHealth, CancerGov, CDC), plus a seeded sample of GARD's
(rare diseases, whose symptom answers are the Human Phenotype Ontology's term lists), turned into a
short description:

1. the question-like first sentence and GARD's HPO boilerplate are dropped;
2. the condition's names are masked (replaced by "this condition"): its focus, the focus without a
   parenthesis, without "familial"/"hereditary"/... or a trailing "type N", and acronyms given in
   parentheses after any of these in the text (all listed in names.json);
3. clinical words are rewritten into lay words with ``LAY`` below (a small hand-written map: "fatigue"
   -> "feeling very tired", "abdominal pain" -> "stomach pain", ...); the method does not use this map;
4. cut to its first ``--words`` words (patients write a few sentences).

A case keeps only when its condition has another document left in the knowledge base (the case's own
document is held out at query time: ``kbqa eval diagnose --exclude-column doc_id``), and only one case
per condition. ``part`` is "dev" (tune on these) or "test" (report only), by a seeded hash of the label.
Fields: ``id``, ``text``, ``label`` (the focus), ``doc_id`` (held out), ``collection``, ``part``.
names.json: {label: [accepted names]}: the focus, without its parenthesis, and its acronym.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from kbqa.diagnose.conditions import condition_key  # noqa: E402
from kbqa.evaluate.export import medquad_pairs  # noqa: E402

COMMON = ("NIDDK", "NHLBI", "NIHSeniorHealth", "CancerGov", "CDC")
LAY = {
    r"\bfatigue\b": "feeling very tired", r"\bmalaise\b": "feeling unwell", r"\bdyspn(?:o)?ea\b": "trouble breathing",
    r"\bshortness of breath\b": "getting out of breath", r"\babdominal\b": "stomach", r"\babdomen\b": "belly",
    r"\bnausea\b": "feeling sick to my stomach", r"\bvomiting\b": "throwing up", r"\bdiarrhea\b": "loose stools",
    r"\bconstipation\b": "trouble pooping", r"\bpruritus\b": "itching", r"\bedema\b": "swelling",
    r"\bjaundice\b": "yellow skin and eyes", r"\bfever\b": "a high temperature", r"\bheadaches?\b": "head pain",
    r"\burination\b": "peeing", r"\burinate\b": "pee", r"\burine\b": "pee", r"\bhematuria\b": "blood in my pee",
    r"\bpalpitations\b": "a pounding heartbeat", r"\bsyncope\b": "passing out", r"\bvertigo\b": "the room spinning",
    r"\bmyalgias?\b": "muscle aches", r"\barthralgias?\b": "joint pain", r"\bseizures?\b": "fits",
    r"\bweight loss\b": "losing weight without trying", r"\bappetite\b": "hunger", r"\bthirst\b": "being thirsty",
    r"\bcough\b": "coughing", r"\bwheezing\b": "whistling breath", r"\bnumbness\b": "no feeling",
    r"\bparesthesias?\b": "pins and needles", r"\bhypertension\b": "high blood pressure",
    r"\bhypotension\b": "low blood pressure", r"\btachycardia\b": "a racing heart", r"\berythema\b": "redness",
    r"\blesions?\b": "sores", r"\brash\b": "spots on my skin", r"\binsomnia\b": "trouble sleeping",
    r"\bdysphagia\b": "trouble swallowing", r"\bheartburn\b": "burning in my chest", r"\bbloating\b": "a swollen belly",
    r"\bchronic\b": "long-lasting", r"\bacute\b": "sudden", r"\bsymptoms\b": "problems", r"\bpatients\b": "people",
}
_HPO = re.compile(r"The Human Phenotype Ontology.*?(?=$)", re.S)
_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9-]{1,9})\)")


def names_for(focus: str, text: str) -> list[str]:
    out = [focus]
    bare = re.sub(r"\s*\([^)]*\)", "", focus).strip()
    if bare and bare != focus:
        out.append(bare)
    for m in re.finditer(r"\(([^)]{2,40})\)", focus):
        out.append(m.group(1))
    short = re.sub(r"^(?:familial|hereditary|congenital|inherited|adult|childhood|juvenile)\s+", "", bare, flags=re.I)
    short = re.sub(r",?\s+type\s+\w+$", "", short, flags=re.I).strip()
    if short and short != bare and len(short.split()) > 1:
        out.append(short)
    for name in {bare, short}:
        for m in re.finditer(re.escape(name), text, flags=re.I) if name else ():
            acronym = _ACRONYM.match(text[m.end():].lstrip())
            if acronym:
                out.append(acronym.group(1))
    return list(dict.fromkeys(n for n in out if len(n) > 1))


def describe(text: str, names: list[str], words: int) -> str:
    body = _HPO.sub("", text)
    body = re.sub(r"^[^.?!\n]*\?\s*", "", body.strip())  # "What are the signs and symptoms of X?"
    body = re.sub(r"Signs and Symptoms Approximate number of patients \(when available\)", " ", body)
    for name in sorted(names, key=len, reverse=True):
        body = re.sub(r"(?<!\w)" + re.escape(name) + r"(?:'s)?(?!\w)", "this condition", body, flags=re.I)
    for pattern, lay in LAY.items():
        body = re.sub(pattern, lay, body, flags=re.I)
    body = re.sub(r"\s*-\s+", ", ", body)
    body = re.sub(r"\b\d+%\s*", "", body)
    return " ".join(body.split()[:words])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/medquad"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--rare", type=int, default=100, help="GARD cases drawn (seeded)")
    ap.add_argument("--words", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    docs = medquad_pairs(args.data)
    per_condition = Counter(condition_key(d.meta["focus"]) for d in docs if d.meta.get("focus"))
    symptoms = [d for d in docs if d.meta.get("qtype") == "symptoms" and d.meta.get("focus")]
    rng = random.Random(args.seed)
    gard = [d for d in symptoms if d.meta["collection"] == "GARD" and "Human Phenotype Ontology" not in d.text[:400]]
    chosen = [d for d in symptoms if d.meta["collection"] in COMMON] + rng.sample(gard, min(args.rare, len(gard)))
    cases, names, seen = [], {}, set()
    for d in chosen:
        label = " ".join(d.meta["focus"].split())
        key = condition_key(label)
        if key in seen or per_condition[key] < 2:
            continue
        accepted = names_for(label, d.text)
        text = describe(d.text, accepted, args.words)
        if len(text.split()) < 8:
            continue
        seen.add(key)
        part = "dev" if int(hashlib.sha256(f"{args.seed}:{key}".encode()).hexdigest(), 16) % 2 == 0 else "test"
        cases.append({"id": d.doc_id, "text": text, "label": label, "doc_id": d.doc_id,
                      "collection": d.meta["collection"], "part": part})
        names[label] = accepted
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in ("dev", "test", "all"):
        rows = [c for c in cases if part == "all" or c["part"] == part]
        (out / f"cases-{part}.jsonl").write_text("".join(json.dumps(c) + "\n" for c in rows), encoding="utf-8")
    (out / "names.json").write_text(json.dumps(names, indent=1), encoding="utf-8")
    print(f"wrote {len(cases)} cases ({Counter(c['part'] for c in cases)}; {Counter(c['collection'] for c in cases)}) "
          f"to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
