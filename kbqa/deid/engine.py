"""The de-identifier: Presidio's AnalyzerEngine (a blank spaCy pipeline, pattern recognizers and
kbqa's name recognizer) finds the spans, Presidio's AnonymizerEngine puts typed placeholders in.

No spaCy model is loaded (the official ones are not on PyPI), so detection is by patterns, name
lists and context words: see docs/deidentification.md for the measured recall per category.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from kbqa.deid.patterns import PATTERNS

# category -> placeholder; the order is the order reports print
CATEGORIES = ("NAME", "DATE", "AGE", "PHONE", "EMAIL", "ID", "ADDRESS", "ZIP", "URL", "IP")
# Presidio's own recognizers kept, and the category each entity maps to. Its PhoneRecognizer
# (phonenumbers: 15 ms a note), UrlRecognizer and EmailRecognizer (tldextract, which fetches the
# public suffix list over the network) are replaced by patterns of kbqa.deid.patterns.
PRESIDIO_ENTITIES = {
    "DATE_TIME": "DATE", "IP_ADDRESS": "IP", "US_SSN": "ID", "MEDICAL_LICENSE": "ID", "CREDIT_CARD": "ID",
    "IBAN_CODE": "ID", "US_PASSPORT": "ID", "MAC_ADDRESS": "ID", "UUID": "ID",
}
PRESIDIO_RECOGNIZERS = ("DateRecognizer", "IpRecognizer", "UsSsnRecognizer", "MedicalLicenseRecognizer",
                        "CreditCardRecognizer", "IbanRecognizer", "MacAddressRecognizer", "UuidRecognizer")
SCORE_THRESHOLD = 0.35
PACKAGES = ("presidio-analyzer", "presidio-anonymizer", "spacy", "names")


@dataclass(frozen=True)
class PhiSpan:
    """One replaced span: ``start``/``end`` in the original text, ``new_start``/``new_end`` of its
    placeholder in the de-identified text."""

    category: str
    start: int
    end: int
    new_start: int
    new_end: int
    score: float
    rule: str


@dataclass(frozen=True)
class Redaction:
    text: str
    spans: tuple[PhiSpan, ...]


def placeholder(category: str) -> str:
    return f"[{category}]"


_HEAVY = ("torch", "transformers")  # optional back-ends of spaCy/thinc and Presidio that kbqa.deid never uses


def _import_presidio() -> Any:
    """Import Presidio and spaCy without their optional torch/transformers back-ends (10 s on a busy
    2-core machine; the blank pipeline needs neither). Where those are already imported nothing changes."""
    import sys

    blocked = [name for name in _HEAVY if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise ImportError
    try:
        import presidio_analyzer
        import presidio_anonymizer
        import spacy  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the deid extra
        raise ImportError(f"kbqa's de-identification needs {exc.name!r} (presidio-analyzer, presidio-anonymizer, spacy "
                          "and names are kbqa dependencies): pip install -c constraints.txt -e .") from exc
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return presidio_analyzer, presidio_anonymizer


def _build_analyzer(clinical: frozenset[str]) -> Any:
    import regex
    import spacy
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    from kbqa.deid.names import find_names

    class BlankSpacy(SpacyNlpEngine):
        """spaCy's tokenizer alone: no model to download."""

        def __init__(self) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])

        def load(self) -> None:
            self.nlp = {"en": spacy.blank("en")}

    class NameRecognizer(EntityRecognizer):
        def __init__(self) -> None:
            super().__init__(supported_entities=["NAME"], name="KbqaNameRecognizer", supported_language="en")

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            out = []
            for start, end, score, rule in find_names(text, clinical):
                if text[end - 1] == "." and end - start > 2 and text[end - 3] != " ":
                    end -= 1  # "... Smith." keeps the full stop
                if text[start:end].endswith(("'s", "’s")):
                    end -= 2  # "Kowalski's wife" keeps its 's
                out.append(RecognizerResult("NAME", start, end, score, recognition_metadata={"rule": rule}))
            return out

    nlp = BlankSpacy()
    nlp.load()
    predefined = RecognizerRegistry()
    predefined.load_predefined_recognizers(nlp_engine=nlp)
    registry = RecognizerRegistry(
        [r for r in predefined.recognizers if r.name in PRESIDIO_RECOGNIZERS], supported_languages=["en"]
    )
    for entity, patterns in PATTERNS.items():
        registry.add_recognizer(
            PatternRecognizer(
                supported_entity=entity,
                name=f"Kbqa{entity.title()}Recognizer",
                patterns=[Pattern(name, rx, score) for name, rx, score in patterns],
                global_regex_flags=regex.DOTALL | regex.V0,  # case matters: (?i:...) where it does not
            )
        )
    registry.add_recognizer(NameRecognizer())
    return AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"],
                          default_score_threshold=SCORE_THRESHOLD)


def _resolve(results: Iterable[Any], text: str) -> list[tuple[int, int, str, float, str]]:
    """Disjoint spans: the longer (then the higher-scored) of two overlapping ones wins; spans of one
    category separated by spaces only ("[NAME] [NAME]") are merged."""
    cands = []
    for r in results:
        cat = PRESIDIO_ENTITIES.get(r.entity_type, r.entity_type)
        if cat not in CATEGORIES or r.end <= r.start:
            continue
        rule = (r.recognition_metadata or {}).get("rule") or (r.analysis_explanation.pattern_name
                                                             if r.analysis_explanation else "") or ""
        cands.append((r.start, r.end, cat, float(r.score), str(rule)))
    cands.sort(key=lambda c: (-(c[1] - c[0]), -c[3], c[0]))
    taken: list[tuple[int, int, str, float, str]] = []
    for c in cands:
        if all(c[1] <= t[0] or c[0] >= t[1] for t in taken):
            taken.append(c)
    taken.sort()
    merged: list[tuple[int, int, str, float, str]] = []
    for c in taken:
        if merged and merged[-1][2] == c[2] and not text[merged[-1][1]:c[0]].strip():
            p = merged[-1]
            merged[-1] = (p[0], c[1], p[2], max(p[3], c[3]), p[4])
        else:
            merged.append(c)
    return merged


class Deidentifier:
    """Replaces PHI by typed placeholders. Thread-safe; build one with ``default_deidentifier()``.

    ``allow``: extra clinical words never replaced as a name (besides the built-in guard)."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.allow = frozenset(a.lower() for a in allow)
        self._analyzer: Any = None
        self._anonymizer: Any = None
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.documents = 0

    def _engines(self) -> tuple[Any, Any]:
        if self._analyzer is None:
            with self._lock:
                if self._analyzer is None:
                    _import_presidio()
                    from presidio_anonymizer import AnonymizerEngine

                    from kbqa.deid import lexicon

                    self._anonymizer = AnonymizerEngine()
                    self._analyzer = _build_analyzer(lexicon.clinical_words() | self.allow)
        return self._analyzer, self._anonymizer

    def find(self, text: str) -> list[tuple[int, int, str, float, str]]:
        """(start, end, category, score, rule) of the PHI spans of ``text``, disjoint and sorted."""
        if not text or not text.strip():
            return []
        analyzer, _ = self._engines()
        return _resolve(analyzer.analyze(text, language="en"), text)

    def redact(self, text: str) -> Redaction:
        """``text`` with each PHI span replaced by its placeholder, and where each went."""
        found = self.find(text)
        self.documents += 1
        if not found:
            return Redaction(text, ())
        from presidio_anonymizer.entities import ConflictResolutionStrategy, OperatorConfig, RecognizerResult

        _, anonymizer = self._engines()
        result = anonymizer.anonymize(
            text,
            [RecognizerResult(cat, s, e, sc) for s, e, cat, sc, _ in found],
            operators={cat: OperatorConfig("replace", {"new_value": placeholder(cat)}) for cat in CATEGORIES},
            conflict_resolution=ConflictResolutionStrategy.REMOVE_INTERSECTIONS,
            merge_entities_with_spaces=False,
        )
        items = sorted(result.items, key=lambda it: it.start)
        if len(items) != len(found):  # pragma: no cover - the spans given are disjoint
            raise RuntimeError(f"the anonymizer returned {len(items)} spans for {len(found)} given")
        spans = tuple(
            PhiSpan(cat, s, e, it.start, it.end, sc, rule) for (s, e, cat, sc, rule), it in zip(found, items)
        )
        self.counts.update(sp.category for sp in spans)
        return Redaction(result.text, spans)

    def __call__(self, text: str) -> str:
        return self.redact(text).text

    def describe(self) -> dict[str, Any]:
        """What the manifest / model metadata record: the tool, its libraries and what it replaced."""
        return {
            "applied": True,
            "tool": "kbqa.deid (Presidio analyzer + anonymizer, pattern recognizers, census name lists)",
            "packages": {p: _version(p) for p in PACKAGES},
            "presidio_recognizers": list(PRESIDIO_RECOGNIZERS),
            "categories": {c: placeholder(c) for c in CATEGORIES},
            "score_threshold": SCORE_THRESHOLD,
            "extra_allow_words": len(self.allow),
            "documents": self.documents,
            "replaced": {c: self.counts[c] for c in CATEGORIES if self.counts[c]},
        }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def default_deidentifier() -> Deidentifier:
    return Deidentifier()


def deidentify(texts: Sequence[str] | str) -> list[str] | str:
    """De-identified copies of ``texts`` (a string gives a string)."""
    d = default_deidentifier()
    if isinstance(texts, str):
        return d(texts)
    return [d(t) for t in texts]
