"""De-identification benchmark: synthetic PHI inserted (fixed seed) into real consumer questions and
MedQuAD answer sentences; recall / precision per category, clinical-term survival, documents/s.

    OMP_NUM_THREADS=1 python benchmarks/deid_benchmark.py --data ../shared/data --out benchmarks/results/deid.json

The test set is generated on every run from ../shared/data (nothing generated is committed):
- texts: every LiveQA training question (subject + message, as written) and 400 MedQuAD answer
  passages (first three sentences of one answer of 400 topic files drawn with the seed);
- into each, 1 to 3 sentences built from templates with synthetic values (Faker, seeded) are inserted
  at sentence boundaries, each value's span recorded with its category.

Scores, per category:
- recall: inserted values every character of which lies inside a replaced span (any placeholder:
  what matters for privacy is that it is gone); ``typed_recall``: inside a span of its own category;
- precision: replaced spans that overlap an inserted value. The real texts hold PHI-like strings of
  their own (people's names, dates in the messages), which count as false positives here: precision is
  a lower bound;
- clinical-term survival: occurrences of MedQuAD focus names and DDI-2013 drug names in the original
  texts (outside inserted values) that no replaced span touches.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 21
_SENT = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")

DATE_FORMATS = ["%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d-%b-%Y", "%B %Y",
                "%b. %d", "%m.%d.%Y", "%A, %B %d, %Y", "%-m/%-d/%Y", "%B %-d", "%-d %b %Y"]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


class Phi:
    """Builds one PHI sentence: a template with slots, each slot's value recorded."""

    def __init__(self, rng: random.Random, fake) -> None:
        self.rng, self.fake = rng, fake

    def value(self, cat: str) -> str:
        r, f = self.rng, self.fake
        if cat == "DATE":
            d = f.date_between(start_date="-90y", end_date="+1y")
            fmt = r.choice(DATE_FORMATS + ["ordinal"])
            if fmt == "ordinal":
                return f"{d.strftime('%B')} {_ordinal(d.day)}" + r.choice(["", f", {d.year}"])
            return d.strftime(fmt)
        if cat == "AGE":
            return str(r.randint(90, 109))
        if cat == "PHONE":
            a, b, c = r.randint(201, 989), r.randint(200, 999), r.randint(0, 9999)
            return r.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}",
                             f"1-{a}-{b}-{c:04d}", f"{a}-{b}-{c:04d} ext. {r.randint(10, 999)}", f"{a}{b}{c:04d}"])
        if cat == "EMAIL":
            return r.choice([f.email(), f"{f.first_name().lower()}.{f.last_name().lower()}{r.randint(1, 99)}@{f.free_email_domain()}",
                             f.company_email()])
        if cat == "ID":
            n = r.randint(10**5, 10**9)
            return r.choice([str(n), f"{n:09d}", f"{r.choice('ABCDEFGHJKLMNPRSTUVWXYZ')}{n}", f"{n // 1000}-{n % 1000:03d}",
                             f"{r.randint(100, 899)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}",
                             f"{f.bothify('??######').upper()}"])
        if cat == "URL":
            return r.choice([f.url(), f"https://www.{f.domain_name()}/{f.uri_path()}", f"www.{f.domain_name()}",
                             f"{f.domain_name()}/patient/{r.randint(100, 99999)}", f"http://{f.domain_name()}"])
        if cat == "IP":
            return r.choice([f.ipv4(), f.ipv4_private(), f.ipv6()])
        raise KeyError(cat)

    def name(self) -> tuple[str, list[tuple[str, str]]]:
        """A name template: its text with {N0}.. slots is built by the caller."""
        f, r = self.fake, self.rng
        first, last = f.first_name(), f.last_name()
        forms = [f"{first} {last}", f"{last}, {first}", f"{first} {r.choice('ABCDEFGHJKLMNPRSTW')}. {last}",
                 f"{first} {f.last_name()}-{last}" if r.random() < 0.2 else f"{first} {last}", first, last]
        return first, [(r.choice(forms), last)]

    def sentence(self) -> tuple[str, list[tuple[str, str, str]]]:
        """(text, [(category, value, placeholder-free text)]) for one inserted sentence."""
        r, f = self.rng, self.fake
        cat = r.choice(["NAME", "NAME", "DATE", "DATE", "AGE", "PHONE", "EMAIL", "ID", "ADDRESS", "URL", "IP"])
        first, last = f.first_name(), f.last_name()
        full = r.choice([f"{first} {last}", f"{first} {r.choice('ABCDEFGHJKLMNPRSTW')}. {last}", f"{last}, {first}"])
        if cat == "NAME":
            t = r.choice([
                ("My name is {v}.", full), ("Patient: {v}.", full), ("I am writing for my mother, {v}.", full),
                ("Dr. {v} told us to ask you.", last), ("Mrs. {v} is my neighbour.", last), ("Mr. {v} was seen again.", last),
                ("My son {v} has the same problem.", first), ("Thank you, {v}", full), ("Sincerely, {v}", full),
                ("{v} was referred by his GP.", f"{first} {last}"), ("Signed: {v}, MD", f"{first} {last}"),
                ("Please reply to {v}.", f"{first} {last}"), ("Seen by {v} in clinic.", f"{first} {last}"),
                ("my daughter {v} is 4.", first.lower()), ("Ms. {v} asked about it.", f"{first} {last}"),
            ])
        elif cat == "DATE":
            t = r.choice([("It started on {v}.", None), ("DOB: {v}.", None), ("She was admitted {v}.", None),
                          ("Last visit {v}, no change.", None), ("Surgery is scheduled for {v}.", None),
                          ("Discharged on {v} with a follow-up.", None)])
        elif cat == "AGE":
            t = r.choice([("My grandmother is {v} years old.", None), ("A {v}-year-old man asked this.", None),
                          ("Age {v}, lives alone.", None), ("He is {v} y/o.", None), ("Patient aged {v}.", None),
                          ("My father, {v} yo, has this.", None)])
        elif cat == "PHONE":
            t = r.choice([("Call me at {v}.", None), ("Phone: {v}", None), ("Fax {v} for records.", None),
                          ("My cell is {v}.", None), ("You can reach the clinic on {v} any day.", None)])
        elif cat == "EMAIL":
            t = r.choice([("Email me at {v}.", None), ("Contact: {v}", None), ("({v})", None), ("Write to {v} please.", None)])
        elif cat == "ID":
            t = r.choice([("MRN: {v}.", None), ("Medical record number {v}.", None), ("Account # {v}", None),
                          ("Insurance ID {v}.", None), ("Licence number {v}.", None), ("Patient ID: {v}", None),
                          ("SSN {v}.", None), ("Policy no. {v}", None), ("Chart {v} for reference.", None)])
        elif cat == "URL":
            t = r.choice([("See {v} for my results.", None), ("I read {v} about it.", None), ("Link: {v}", None)])
        elif cat == "IP":
            t = r.choice([("Sent from {v}.", None), ("Login from IP {v} failed.", None), ("Server {v}", None)])
        if cat == "ADDRESS":
            street = f.street_address() if r.random() < 0.6 else f"{f.building_number()} {f.street_name()}"
            city, state, zip_ = f.city(), f.state_abbr(include_territories=False), f.zipcode()
            form = r.choice([0, 1, 2, 3])
            if form == 0:
                return self._fill("I live at {0}, {1}, " + state + " {2}.", [("ADDRESS", street), ("ADDRESS", city), ("ZIP", zip_)])
            if form == 1:
                return self._fill("Address: {0}, {1}, " + state + " {2}", [("ADDRESS", street), ("ADDRESS", city), ("ZIP", zip_)])
            if form == 2:
                return self._fill("Send it to {0}.", [("ADDRESS", street)])
            return self._fill("We are in {0}, " + state + " {1}.", [("ADDRESS", city), ("ZIP", zip_)])
        template, value = t
        if value is None:
            value = self.value(cat)
        return self._fill(template.replace("{v}", "{0}"), [(cat, value)])

    @staticmethod
    def _fill(template: str, slots: list[tuple[str, str]]) -> tuple[str, list[tuple[str, str, int]]]:
        out, spans, pos = "", [], 0
        for m in re.finditer(r"\{(\d)\}", template):
            out += template[pos:m.start()]
            cat, value = slots[int(m.group(1))]
            spans.append((cat, value, len(out)))
            out += value
            pos = m.end()
        return out + template[pos:], spans


def load_texts(data: Path, rng: random.Random, n_medquad: int) -> list[tuple[str, str]]:
    from kbqa.corpus.liveqa import read_folder
    from kbqa.corpus.medquad import normalise

    texts = [("liveqa", q.text) for q in read_folder(data / "liveqa_train") if q.text.strip()]
    files = sorted((data / "medquad").rglob("*.xml"))
    rng.shuffle(files)
    picked = []
    for path in files:
        m = re.search(r"<Answer>(.*?)</Answer>", path.read_text(encoding="utf-8", errors="replace"), re.S)
        if not m or not m.group(1).strip():
            continue
        sentences = _SENT.split(normalise(m.group(1)))
        picked.append(("medquad", " ".join(sentences[:3])))
        if len(picked) >= n_medquad:
            break
    return texts + picked


def clinical_terms(data: Path) -> set[str]:
    terms = set()
    for path in (data / "medquad").rglob("*.xml"):
        for m in re.finditer(r"<Focus>(.*?)</Focus>", path.read_text(encoding="utf-8", errors="replace"), re.S):
            terms.add(" ".join(m.group(1).lower().split()))
    for path in (data / "ddi2013").rglob("*.xml"):
        for m in re.finditer(r'<entity [^>]*text="([^"]+)"', path.read_text(encoding="utf-8", errors="replace")):
            terms.add(" ".join(m.group(1).lower().split()))
    return {t for t in terms if len(t) > 2}


def insert(text: str, phi: Phi, rng: random.Random) -> tuple[str, list[tuple[str, str, int, int]]]:
    sentences = _SENT.split(text) if text else [""]
    gold = []
    for _ in range(rng.randint(1, 3)):
        sentence, spans = phi.sentence()
        at = rng.randint(0, len(sentences))
        sentences.insert(at, (sentence, spans))
    out = ""
    for s in sentences:
        if out:
            out += " "
        if isinstance(s, tuple):
            sentence, spans = s
            for cat, value, off in spans:
                gold.append((cat, value, len(out) + off, len(out) + off + len(value)))
            out += sentence
        else:
            out += s
    return out, gold


def term_occurrences(text: str, terms: set[str], max_words: int) -> list[tuple[int, int]]:
    words = [(m.start(), m.end(), m.group().lower()) for m in re.finditer(r"[A-Za-z0-9][A-Za-z0-9'\-]*", text)]
    found = []
    for i in range(len(words)):
        for n in range(max_words, 0, -1):
            if i + n <= len(words):
                phrase = " ".join(w[2] for w in words[i:i + n])
                if phrase in terms:
                    found.append((words[i][0], words[i + n - 1][1]))
                    break
    return found


class _Span:
    def __init__(self, start: int, end: int, category: str) -> None:
        self.start, self.end, self.category = start, end, category


class _Spans:
    def __init__(self, spans: list[_Span]) -> None:
        self.spans = spans


class PresidioStock:
    """The alternative measured: Presidio's own predefined recognizers only (blank spaCy pipeline: no
    NER model is on PyPI, so no PERSON/LOCATION), entity types mapped to kbqa's categories."""

    MAP = {"DATE_TIME": "DATE", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL", "URL": "URL", "IP_ADDRESS": "IP",
           "PERSON": "NAME", "LOCATION": "ADDRESS"}

    def __init__(self) -> None:
        import spacy
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import SpacyNlpEngine

        class Blank(SpacyNlpEngine):
            def __init__(self) -> None:
                super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])

            def load(self) -> None:
                self.nlp = {"en": spacy.blank("en")}

        nlp = Blank()
        nlp.load()
        registry = RecognizerRegistry()
        registry.load_predefined_recognizers(nlp_engine=nlp)
        self.analyzer = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"],
                                       default_score_threshold=0.35)

    def redact(self, text: str) -> _Spans:
        return _Spans([_Span(r.start, r.end, self.MAP.get(r.entity_type, "ID"))
                       for r in self.analyzer.analyze(text, language="en")])

    def describe(self) -> dict:
        return {"tool": "Presidio predefined recognizers (blank spaCy, threshold 0.35)"}


class PhilterLite:
    """philter-lite's default configuration (philter_delta.toml). Its POS filters call NLTK's tagger, whose
    data is not on PyPI: every token is tagged NNP here (a stand-in, stated in the report)."""

    MAP = {"NAME": "NAME", "DATE": "DATE", "AGE": "AGE", "CONTACT": "PHONE", "ID": "ID", "LOCATION": "ADDRESS",
           "ORGANIZATION": "NAME", "OTHER": "ID"}

    def __init__(self) -> None:
        from importlib import resources

        import philter_lite
        from philter_lite import philter

        philter._get_pos = lambda text: [(w, "NNP") for w in philter._get_clean(text)]
        self.detect = philter_lite.detect_phi
        self.patterns = philter_lite.load_filters(str(resources.files("philter_lite") / "configs" / "philter_delta.toml"))

    def redact(self, text: str) -> _Spans:
        _, _, tracker = self.detect(text, self.patterns)
        return _Spans([_Span(p.start, p.stop, self.MAP.get(p.phi_type, "ID")) for p in tracker.phi])

    def describe(self) -> dict:
        return {"tool": "philter-lite 0.6.0, philter_delta.toml, POS tagger replaced by NNP for every token"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--medquad", type=int, default=400, help="MedQuAD passages (default 400)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--limit", type=int, default=None, help="score only the first N generated texts (slow engines)")
    ap.add_argument("--out", help="write the figures here as JSON")
    ap.add_argument("--show-misses", type=int, default=0, help="print this many missed values (to stderr)")
    ap.add_argument("--engine", choices=["kbqa", "presidio-stock", "philter-lite"], default="kbqa",
                    help="what to measure (default kbqa.deid; the others are the alternatives it was chosen against)")
    args = ap.parse_args()
    from faker import Faker

    from kbqa.deid import CATEGORIES, Deidentifier

    data = Path(args.data)
    rng = random.Random(args.seed)
    fake = Faker("en_US")
    fake.seed_instance(args.seed)
    phi = Phi(rng, fake)
    texts = load_texts(data, rng, args.medquad)
    terms = clinical_terms(data)
    max_words = max(len(t.split()) for t in terms)
    docs = [(src, *insert(t, phi, rng)) for src, t in texts]
    if args.limit:
        docs = rng.sample(docs, min(args.limit, len(docs)))

    d = {"kbqa": Deidentifier, "presidio-stock": PresidioStock, "philter-lite": PhilterLite}[args.engine]()
    d.redact("warm up: John Smith, 01/02/2020")
    t0 = time.perf_counter()
    redactions = [d.redact(text) for _, text, _ in docs]
    seconds = time.perf_counter() - t0

    gold_n, hit, typed = Counter(), Counter(), Counter()
    pred_n, pred_ok = Counter(), Counter()
    terms_n = terms_kept = 0
    lost_terms: Counter[str] = Counter()
    misses = []
    for (src, text, gold), red in zip(docs, redactions):
        spans = red.spans
        for cat, value, s, e in gold:
            gold_n[cat] += 1
            covering = [sp for sp in spans if sp.start < e and sp.end > s]
            covered = set()
            for sp in covering:
                covered.update(range(max(s, sp.start), min(e, sp.end)))
            if len(covered) == e - s:
                hit[cat] += 1
                typed[cat] += all(sp.category == cat for sp in covering)
            else:
                misses.append((cat, value, text[max(0, s - 40):e + 20]))
        for sp in spans:
            pred_n[sp.category] += 1
            pred_ok[sp.category] += any(sp.start < e and sp.end > s for _, _, s, e in gold)
        inserted = [(s, e) for _, _, s, e in gold]
        for s, e in term_occurrences(text, terms, max_words):
            if any(s < ge and e > gs for gs, ge in inserted):
                continue
            terms_n += 1
            if any(sp.start < e and sp.end > s for sp in spans):
                lost_terms[text[s:e].lower()] += 1
            else:
                terms_kept += 1
    per = {}
    for cat in CATEGORIES:
        if gold_n[cat] or pred_n[cat]:
            per[cat] = {
                "inserted": gold_n[cat], "recall": round(hit[cat] / gold_n[cat], 4) if gold_n[cat] else None,
                "typed_recall": round(typed[cat] / gold_n[cat], 4) if gold_n[cat] else None,
                "replaced": pred_n[cat], "precision": round(pred_ok[cat] / pred_n[cat], 4) if pred_n[cat] else None,
            }
    report = {
        "command": "OMP_NUM_THREADS=1 python benchmarks/deid_benchmark.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip() + " (2 cores shared with other jobs; 1 thread)",
        "seed": args.seed,
        "documents": len(docs),
        "sources": dict(Counter(src for src, _, _ in docs)),
        "inserted_values": sum(gold_n.values()),
        "recall": round(sum(hit.values()) / sum(gold_n.values()), 4),
        "precision_lower_bound": round(sum(pred_ok.values()) / max(1, sum(pred_n.values())), 4),
        "per_category": per,
        "clinical_terms": {"list_size": len(terms), "occurrences": terms_n,
                           "kept": round(terms_kept / max(1, terms_n), 4),
                           "lost_most": lost_terms.most_common(15)},
        "documents_per_second": round(len(docs) / seconds, 1),
        "mean_chars": round(sum(len(t) for _, t, _ in docs) / len(docs)),
        "engine": args.engine,
        "deidentifier": d.describe(),
    }
    print(json.dumps(report, indent=1))
    for cat, value, ctx in misses[: args.show_misses]:
        print(f"MISS {cat}: {value!r} in ...{ctx!r}", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
