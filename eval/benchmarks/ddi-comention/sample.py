"""Draw the candidate sentences of the co-mention dev set (run once; labelling is by hand, see README.md).

    python eval/benchmarks/ddi-comention/sample.py --out /tmp/comention-candidates.jsonl

Writes the candidates WITH their text (for reading and labelling; never commit that file). The
sampling rule is the README's: every sentence (kbqa.text.sentence_spans) of every answered MedQuAD
pair and PubMedQA-L abstract naming two different drugs of the DDI model's lexicon
(models/ddi/drug_names.txt, matched with kbqa.ddi.names.mention_pattern, names of 3 characters or
fewer left out; adjacent matches joined into one name; NOT_DRUGS left out), one copy of each distinct sentence; the pair is the first
two different names in the sentence; split into a "cue" stratum (an interaction cue,
kbqa.ddi.comention.CUES) and a "plain" one; a seeded draw of --per-cell sentences per source and
stratum.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from kbqa.ddi.comention import corpus_documents, sentence_sha256  # noqa: E402
from kbqa.ddi.names import mention_pattern, normalize  # noqa: E402
from kbqa.text import normalised, sentence_spans  # noqa: E402

# lexicon entries that in these texts are rarely a drug a user would name (words, body substances,
# fragments of longer names): reviewed among the 150 most frequent matches over the two corpora
NOT_DRUGS = {
    "lead", "leads", "drug", "drugs", "glucose", "oxygen", "iron", "thyroid", "calcium", "alcohol", "ethanol",
    "vitamin", "vitamins", "antibodies", "receptor", "receptors", "potassium", "anesthesia", "phosphate",
    "toxin", "toxins", "dopamine", "iodine", "angiotensin", "acth", "immunosuppressive", "glucagon", "caffeine",
    "surfactant", "glycine", "silver", "anti-inflammatory", "non-steroidal anti-inflammatory", "glutamate",
    "adenosine", "arginine", "methionine", "coagulation factor", "fibrinogen", "transferrin", "gold", "sulfur",
    "zinc", "magnesium", "fat-soluble vitamins", "somatostatin", "norepinephrine", "sodium", "protein",
    "hormone", "hormones", "water", "food", "egg", "promoter", "androgen", "androgens",
}
SEED = 16
# interaction cues: the "cue" stratum of the first draw
CUES = re.compile(
    r"interact|co-?administ|concomitant|concurrent|together with|in combination|combined with|combination of"
    r"|\bplus\b|added to|\bwith(out)? (an? )?\w+ (inhibitor|inducer)|inhibit|induc|metaboli|potentiat|enhance"
    r"|antagoni|\bincrease[sd]? |\bdecrease[sd]? |\breduce[sd]? |\bavoid|should not|do not take|must not"
    r"|contraindicat|plasma|clearance|absorption|\bcyp|serum level|bleeding",
    re.IGNORECASE,
)
# strong cues of a stated interaction: the second draw (the first held too few positives)
STRONG = re.compile(
    r"interact|co-?administ|concomitant|concurrent(ly)? (use|with|administ)|together with|along with"
    r"|when (used|taken|given|combined) with|combined (use|with)|in combination with|potentiat|synergi|additive"
    r"|antagoni[sz]|\b(increase|decrease|reduce|enhance|block|inhibit|prolong|lower|raise)[sd]? (the )?"
    r"(effect|action|activity|level|concentration|metabolism|absorption|clearance|toxicity|risk)"
    r"|-induced|should not be (taken|used|given|combined)|do not (take|use)|avoid (taking|using)",
    re.IGNORECASE,
)


def candidates(docs: dict, lexicon: list[str]) -> list[dict]:
    names = [n for n in lexicon if len(n) > 3]
    pattern = mention_pattern(names)
    seen, out = set(), []
    for doc in docs.values():
        source = "medquad" if doc.meta.get("source") == "medquad" else "pubmedqa"
        for a, b in sentence_spans(doc.text):
            sentence = doc.text[a:b]
            found = []  # mentions; adjacent ones ("thiazide diuretics") are one name, not a pair
            for m in pattern.finditer(sentence):
                if found and not sentence[found[-1][1] : m.start()].strip(" -"):
                    s0 = found.pop()[0]
                    found.append((s0, m.end(), normalize(sentence[s0 : m.end()])))
                else:
                    found.append((m.start(), m.end(), normalize(m.group())))
            found = [f for f in found if f[2] not in NOT_DRUGS]
            pair = []
            for m in found:
                if all(m[2] != p[2] and m[2].rstrip("s") != p[2].rstrip("s") for p in pair):
                    pair.append(m)
                if len(pair) == 2:
                    break
            key = normalised(sentence)
            if len(pair) < 2 or key in seen:
                continue
            seen.add(key)
            (s1, e1, n1), (s2, e2, n2) = pair
            out.append({
                "doc_id": doc.doc_id, "start": a, "end": b, "sha256": sentence_sha256(sentence),
                "drug1": {"name": n1, "start": a + s1, "end": a + e1},
                "drug2": {"name": n2, "start": a + s2, "end": a + e2},
                "source": source, "stratum": "cue" if CUES.search(sentence) else "plain", "text": sentence,
            })
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mirror", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--lexicon", default=str(ROOT / "models" / "ddi" / "drug_names.txt"))
    ap.add_argument("--per-cell", type=int, default=70, help="sentences drawn per (source, stratum)")
    ap.add_argument("--strong", type=int, default=100, help="sentences of the second draw (strong cues)")
    args = ap.parse_args()
    lexicon = [n.strip() for n in Path(args.lexicon).read_text(encoding="utf-8").splitlines() if n.strip()]
    docs = corpus_documents(mirror=args.mirror)
    pool = candidates(docs, lexicon)
    rng = random.Random(SEED)
    drawn = []
    for source in ("medquad", "pubmedqa"):
        for stratum in ("cue", "plain"):
            cell = [c for c in pool if c["source"] == source and c["stratum"] == stratum]
            pick = rng.sample(cell, min(args.per_cell, len(cell)))
            print(f"{source}/{stratum}: {len(cell)} candidate sentences, {len(pick)} drawn", file=sys.stderr)
            drawn += pick
    # second draw: strong interaction cues among the sentences not drawn yet (own seed)
    taken = {(c["doc_id"], c["start"]) for c in drawn}
    strong = [c for c in pool if (c["doc_id"], c["start"]) not in taken and STRONG.search(c["text"])]
    pick = random.Random(SEED + 1).sample(strong, min(args.strong, len(strong)))
    print(f"strong cues: {len(strong)} candidate sentences not drawn yet, {len(pick)} drawn", file=sys.stderr)
    drawn += [{**c, "stratum": "strong"} for c in pick]
    # third draw: the rest of the cue stratum (with it, every cue sentence of the pool is in the set)
    taken = {(c["doc_id"], c["start"]) for c in drawn}
    rest = [c for c in pool if c["stratum"] == "cue" and (c["doc_id"], c["start"]) not in taken]
    print(f"rest of the cue stratum: {len(rest)} sentences", file=sys.stderr)
    drawn += rest
    with open(args.out, "w", encoding="utf-8") as fh:
        for i, c in enumerate(drawn, 1):
            fh.write(json.dumps({"id": f"cm{i:03d}", **c}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
