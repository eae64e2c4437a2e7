"""``detect_intents(questions, kb)``: the type and focus of each question (:class:`kbqa.types.Intent`).

The type comes from the question-type classifier (``models/qtype``, a ``kbqa train classifier`` folder
read by kbqa.classify.model; loaded on first use, once per process, so `kbqa search` and `--help` never
pay for it) reading the question's asking sentences (:func:`model_text`), its probabilities calibrated as
that folder says (``calibration.json``, ``classifier.json``). A phrase
rule (kbqa.intent.rules) overrides it for comparison / alternatives / stopping / ingredients /
interactions. A yes/no question the classifier calls ``other`` is typed ``yes_no``. Without a
classifier folder the type is the rule's, else ``yes_no``/``other`` by form, with confidence 0 and
``source: "none"``. The focus: kbqa.intent.focus over the names the knowledge base knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.intent.focus import MEDICINE, CONDITION, FocusLexicon, find_focus, index_names, read_names
from kbqa.intent.rules import rule_type
from kbqa.read.question import YES_NO, asking_sentences, question_type, request_sentences
from kbqa.types import Intent

RULE_CONFIDENCE = 0.8  # reported for a rule's type when the classifier gives it less
MEDICINES_FILE = "medicines.txt"  # in the qtype folder: MedQuAD's medicine-collection foci
_MODELS: dict[str, Any] = {}
_LEXICONS: dict[tuple[str, str], FocusLexicon] = {}


def default_model_dir() -> Path | None:
    from kbqa.paths import model_dir

    return model_dir("qtype")


def load_type_model(folder: str | Path | None = None) -> Any:
    """The question-type classifier of ``folder`` (default: the committed ``models/qtype``), loaded once
    per process; None when there is none. A ``kbqa train classifier`` folder (``classifier.json``) loads
    through kbqa.classify.model."""
    path = Path(folder) if folder is not None else default_model_dir()
    if path is None or not (path / "config.json").is_file():
        if folder is not None:
            raise KbqaError(f"question-type model folder {path} has no config.json; train one or fix the path")
        return None
    key = str(path.resolve())
    if key not in _MODELS:
        if not (path / "classifier.json").is_file():
            raise KbqaError(f"{path} is not a question-type classifier (no classifier.json); train one with "
                            "`kbqa train classifier` (docs/question_types.md)")
        from kbqa.classify.model import load_text_classifier

        _MODELS[key] = load_text_classifier(path, device="cpu")
    return _MODELS[key]


GENERIC_ASK_WORDS = 4  # an asking sentence this short ("Please help me.", "Any thoughts?") says little


def model_text(question: str) -> str:
    """What the classifier reads: the sentences that ask (after a short subject line, which often
    names the type: "Treatment options for X"). When they are all generic requests ("Can you help me?"),
    the two sentences before them come first; when nothing asks, the first three sentences (the story
    says what is wanted)."""
    sents = request_sentences(question)
    asking = asking_sentences(question)
    first = question.strip().split("\n", 1)[0].strip()
    if asking and all(len(s.split()) <= GENERIC_ASK_WORDS for s in asking) and asking[0] in sents:
        at = sents.index(asking[0])
        parts = [*sents[max(0, at - 2):at], *asking]
    else:
        parts = list(asking) or sents[:3]
    if "\n" in question.strip() and len(first.split()) <= 12 and first not in parts:
        parts = [first, *parts]
    return " ".join(parts)


def lexicon_for(kb: Any) -> FocusLexicon:
    """The names ``kb`` knows (documents' focus/condition/drug metadata) plus the shipped medicine
    names; built once per index version."""
    key = (str(getattr(kb, "index_dir", "")), str(getattr(kb, "version", id(kb))))
    if key not in _LEXICONS:
        if len(_LEXICONS) > 8:
            _LEXICONS.clear()
        _LEXICONS[key] = build_lexicon(getattr(kb, "documents", {}) or {})
    return _LEXICONS[key]


def build_lexicon(documents: Any) -> FocusLexicon:
    from kbqa.paths import model_dir

    medicines, conditions = index_names(documents)
    lex = FocusLexicon().add_all(medicines, MEDICINE).add_all(conditions, CONDITION)
    for name, filename in (("qtype", MEDICINES_FILE), ("ddi", "drug_names.txt")):
        folder = model_dir(name)
        if folder is not None:
            lex.add_all(read_names(folder / filename), MEDICINE)
    return lex


def detect_intents(questions: Sequence[str], lexicon: FocusLexicon | None, model: Any = "default") -> list[Intent]:
    """The intent of each question (one classifier pass over all). ``model``: a loaded classifier,
    None (rules and form only), or "default" (the committed one, when present)."""
    if isinstance(model, str) and model == "default":
        model = load_type_model()
    texts = [model_text(q) or " ".join(q.split()) or "?" for q in questions]  # the classifier refuses empty text
    probs = model.predict_proba(texts) if model is not None and texts else None
    out = []
    for n, (q, text) in enumerate(zip(questions, texts)):
        foci = find_focus(q, lexicon)
        medicines = sum(f.kind == MEDICINE for f in foci)
        rule = rule_type(text, medicines)
        yes_no = question_type(q) == YES_NO
        if probs is None:
            label, conf, source = rule or (YES_NO if yes_no else "other"), 0.0, "none"
        else:
            p = dict(zip(model.labels, map(float, probs[n])))
            label = max(p, key=p.__getitem__)
            conf, source = p[label], "model"
            if rule is not None:
                label, conf, source = rule, max(p.get(rule, 0.0), RULE_CONFIDENCE), "rule"
            elif yes_no and label == "other":
                label = YES_NO
        out.append(Intent(label, conf, tuple(f.name for f in foci), tuple(f.kind for f in foci), source))
    return out


def detect_intent(question: str, lexicon: FocusLexicon | None = None, model: Any = "default") -> Intent:
    return detect_intents([question], lexicon, model)[0]
