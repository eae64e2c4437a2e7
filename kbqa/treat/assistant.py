"""``treat(kb, condition)``: treatment options for a condition found in the knowledge base, each with its
cited evidence, the warnings that apply to a patient and the interactions with current medications.

An application over a knowledge base, as diagnose and the interaction check are: the core never imports it.
Steps:

1. Passages about the condition, typed retrieval (kbqa.intent.prefer) with the intent ``treatment`` and
   the condition as focus. A passage counts when its document is about the condition (its focus/title
   metadata) or it names the condition; all sentences of a ``treatment`` section count, sentences of
   other general sections (information, outlook, unlabelled text) only when they speak of treating
   (:data:`TREATMENT_CUE`), at :data:`OTHER_SECTION_WEIGHT`.
2. Options: the medicine, procedure and therapy names of those sentences (kbqa.treat.lexicon), a name
   inside the condition's own name excepted. An option's score sums, over the distinct documents
   supporting it, the best weight of its sentences there: section weight x retrieval score / best score.
3. With a patient text: its situations (kbqa.treat.patient); for every option, contraindication-typed
   retrieval about the option; sentences about the option that mention a situation become warnings.
4. With current medications: each known one is checked against every medicine option with the
   interaction check (kbqa.ddi.interactions.check, the ``kbqa interactions`` engine); names not known
   as medicines are reported as unknown, not checked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kbqa.disclaimer import DISCLAIMER
from kbqa.errors import KbqaError
from kbqa.intent.answer import mentions
from kbqa.intent.focus import CONDITION, MEDICINE, FocusLexicon, words
from kbqa.intent.prefer import about, section_type
from kbqa.text import normalised, sentence_spans
from kbqa.treat.lexicon import lexicon_for
from kbqa.treat.patient import Situation, allergen, situations
from kbqa.treat.records import Option, OptionWarning, Sentence, Treatment
from kbqa.types import Hit, Intent

K_DEFAULT = 10
DEPTH = 30  # passages retrieved about the condition
WARNING_DEPTH = 20  # contraindication passages retrieved per option
MAX_EVIDENCE = 3  # sentences shown per option
MAX_WARNINGS = 2  # sentences shown per option and situation
MAX_CONDITION_CHARS = 300
MAX_PATIENT_CHARS = 5000
MAX_MEDICATIONS = 20
OTHER_SECTION_WEIGHT = 0.5
# sections whose sentences may name a treatment when they speak of treating (None: unlabelled text)
OTHER_SECTIONS = frozenset({None, "information", "prognosis", "other", "conclusions", "results"})
TREATMENT_CUE = re.compile(r"\b(?:treat\w*|therap\w*|manag\w*|medications?|medicines?|drugs?|surg\w*|prescri\w*|"
                           r"relie\w*|control(?:s|led)?|improve\w*|respond\w*|given|administ\w*)\b", re.IGNORECASE)
AVOID = re.compile(r"\b(?:avoid\w*|do not (?:take|use)|should not (?:take|use|be)|stop(?:ping)? (?:taking|using))\b[^.;]*$",
                   re.IGNORECASE)
# a warning sentence speaks of care: a caution word, or a contraindication / side-effect section
CAUTION = re.compile(r"\b(?:should not|must not|do not|don't|avoid\w*|caution\w*|careful\w*|risks?|harm\w*|unsafe|"
                     r"safe(?:ty|ly)?|contraindicat\w*|not recommended|warn\w*|side effects?|adverse|toxic\w*|"
                     r"damage\w*|danger\w*|may cause|can cause|increase[sd]? the (?:risk|chance)|lower doses?|"
                     r"dose adjust\w*|monitor\w*|tell your (?:doctor|health care provider)|talk (?:to|with) your)\b",
                     re.IGNORECASE)
CAUTION_SECTIONS = frozenset({"contraindications", "side_effects", "interactions", "overdose"})
NOTE = ("Treatment options found in the knowledge base's literature, for a professional to weigh: not a "
        "prescription and not a recommendation for this patient. " + DISCLAIMER)


def check_condition(condition: Any) -> str:
    if not isinstance(condition, str) or not condition.strip():
        raise KbqaError("the condition is empty; name a condition, e.g. kbqa treat \"psoriasis\" --index DIR")
    condition = " ".join(condition.split())
    if len(condition) > MAX_CONDITION_CHARS:
        raise KbqaError(f"the condition has {len(condition)} characters; name it in at most {MAX_CONDITION_CHARS} "
                        "(describe the patient with --patient)")
    return condition


def check_patient(patient: Any) -> str | None:
    if patient is None:
        return None
    if not isinstance(patient, str):
        raise KbqaError("the patient description must be text, e.g. --patient \"pregnant, 34 weeks\"")
    patient = " ".join(patient.split())
    if len(patient) > MAX_PATIENT_CHARS:
        raise KbqaError(f"the patient description has {len(patient)} characters; shorten it to {MAX_PATIENT_CHARS}")
    return patient or None


def check_medications(medications: Iterable[Any]) -> list[str]:
    if isinstance(medications, str):
        raise KbqaError("medications must be a list of names, not one string")
    names = list(medications or ())
    if any(not isinstance(m, str) or not m.strip() for m in names):
        raise KbqaError("medication names must be non-empty strings")
    if len(names) > MAX_MEDICATIONS:
        raise KbqaError(f"{len(names)} medications given; check at most {MAX_MEDICATIONS} at a time")
    return list(dict.fromkeys(" ".join(m.split()) for m in names))


def _key(text: str) -> str:
    return " ".join(w for w, _, _ in words(text))


def _condition_intent(kb: Any, condition: str) -> tuple[Intent, str | None]:
    """The intent ``treatment`` about the condition, under the knowledge base's own name when it knows one
    that covers the whole text ("Parkinsons" -> "Parkinson's disease")."""
    from kbqa.intent.detect import lexicon_for as names_for

    found = [f for f in names_for(kb).find(condition) if f.kind == CONDITION]
    whole = [f for f in found if _key(condition[f.start:f.end]) == _key(condition)]
    matched = whole[0].name if whole else None
    focus = tuple(dict.fromkeys([matched, condition] if matched else [condition]))
    return Intent("treatment", 1.0, focus, (CONDITION,) * len(focus), "rule"), matched


def treat(
    kb: Any,
    condition: str,
    patient: str | None = None,
    medications: Sequence[str] = (),
    k: int = K_DEFAULT,
    *,
    ddi_model: Any = None,
    synonyms: Any = None,
) -> Treatment:
    """The ``k`` best-supported treatment options for ``condition`` in ``kb`` (see the module docstring).

    ``patient``: free text about the patient (pregnancy, kidney or liver disease, age, allergies, ...);
    ``medications``: the patient's current medicines; ``ddi_model``/``synonyms``: as for
    kbqa.ddi.interactions.check (default models/ddi, no synonyms)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise KbqaError(f"k must be a positive integer, got {k!r}")
    condition = check_condition(condition)
    patient = check_patient(patient)
    medications = check_medications(medications)
    lexicon = lexicon_for(kb)
    intent, matched = _condition_intent(kb, condition)
    searcher = kb if kb.config.search.typed else kb.with_search(typed=True)
    query = f"How is {condition} treated? Treatment of {condition}"
    hits = searcher.search(query, k=DEPTH, intent=intent)
    options, used = _options(hits, intent, lexicon)
    options = options[:k]
    sits = situations(patient)
    if sits and options:
        options = _with_warnings(searcher, options, sits)
    known, unknown = _known_medications(lexicon, medications)
    ddi: dict[str, Any] | None = None
    if known and options:
        options, ddi = _with_interactions(kb, options, known, ddi_model, synonyms)
    provenance: dict[str, Any] = {
        "index_fingerprint": getattr(kb, "fingerprint", None),
        "index_version": getattr(kb, "version", None),
        "retrieval": searcher.config.search.mode,
        "typed": True,
        "query": query,
        "focus": list(intent.focus),
        "hits": len(hits),
        "passages_used": used,
        "lexicon_names": len(lexicon),
        "note": NOTE,
    }
    if not options:
        provenance["reason"] = (f"insufficient evidence: no passage about {condition} was found" if not used else
                                f"insufficient evidence: {used} passage(s) about {condition} name no medicine, "
                                "procedure or therapy known to the lexicon")
    if ddi is not None:
        provenance["interactions"] = ddi
    return Treatment(
        condition=condition, options=options, abstained=not options, provenance=provenance, matched_condition=matched,
        patient=None if patient is None else {"text": patient, "situations": [s.to_dict() for s in sits]},
        medications=known, unknown_medications=unknown,
    )


def _spelling(text: str) -> str:
    """A name as written, in lower case unless it is an abbreviation ("ACE inhibitors")."""
    return " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in text.split())


def _options(hits: Sequence[Hit], intent: Intent, lexicon: Any) -> tuple[list[Option], int]:
    condition_keys = [f" {_key(f)} " for f in intent.focus]
    top = max((h.score for h in hits), default=0.0)
    found: dict[str, dict[str, Any]] = {}
    used = 0
    for rank, h in enumerate(hits):
        if not (about(intent, h.meta, h.title, phrases=True) or any(mentions(h.text, f) for f in intent.focus)):
            continue
        section = section_type(h.meta, h.text)
        if section != "treatment" and section not in OTHER_SECTIONS:
            continue
        used += 1
        tier = 1.0 if section == "treatment" else OTHER_SECTION_WEIGHT
        weight = tier * (h.score / top if top > 0 else 1.0 / (1 + rank))
        topic = FocusLexicon().add_all([*intent.focus, *(str(h.meta.get(f) or "") for f in ("focus", "condition"))],
                                       CONDITION)
        for span in sentence_spans(h.text):
            text = h.text[span[0]:span[1]]
            if (tier < 1.0 and not TREATMENT_CUE.search(text)) or lexicon.is_boilerplate(text):
                continue
            named = [(t.start, t.end) for t in topic.find(text, limit=20)]
            for f in lexicon.find(text, limit=100):
                key = _key(f.name)
                if any(f" {key} " in c for c in condition_keys) or any(a < f.end and f.start < b for a, b in named):
                    continue  # "iron" of "iron deficiency anemia": the condition's name, not a treatment
                if AVOID.search(text[:f.start]):
                    continue  # "avoid alcohol": named as something to keep away from
                o = found.setdefault(_key(f.name), {"kind": f.kind, "docs": {}, "sentences": {}, "spelled": Counter()})
                o["spelled"][_spelling(text[f.start:f.end])] += 1
                o["docs"][h.doc_id] = max(o["docs"].get(h.doc_id, 0.0), weight)
                s = o["sentences"].setdefault(normalised(text), (weight, Sentence(h, span, section)))
                if weight > s[0]:
                    o["sentences"][normalised(text)] = (weight, Sentence(h, span, section))
    options = []
    for o in found.values():
        evidence = [s for _, s in sorted(o["sentences"].values(), key=lambda ws: -ws[0])][:MAX_EVIDENCE]
        name = o["spelled"].most_common(1)[0][0]  # as the passages write it, not the lexicon entry ("... Injection")
        options.append(Option(name, o["kind"], float(sum(o["docs"].values())), len(o["docs"]), evidence))
    options.sort(key=lambda o: (-o.score, o.name.lower()))
    return options, used


def _with_warnings(searcher: Any, options: list[Option], sits: list[Situation]) -> list[Option]:
    """Each option with the sentences about it that mention one of the patient's situations."""
    from dataclasses import replace

    intents = [Intent("contraindications", 1.0, (o.name,), (o.kind if o.kind == MEDICINE else CONDITION,), "rule")
               for o in options]
    rows = searcher.search_many([f"{o.name} precautions warnings contraindications" for o in options],
                                k=WARNING_DEPTH, intents=intents)
    out = []
    for o, intent, row in zip(options, intents, rows, strict=True):
        candidates = [s for s in o.evidence if CAUTION.search(s.text)]
        for h in row:
            is_about = _key(str(h.meta.get("focus") or h.meta.get("drug") or h.title)) == _key(o.name)
            section = section_type(h.meta, h.text)
            for span in sentence_spans(h.text):
                s = Sentence(h, span, section)
                if (is_about or mentions(s.text, o.name)) and (section in CAUTION_SECTIONS or CAUTION.search(s.text)):
                    candidates.append(s)
        warnings: list[OptionWarning] = []
        for sit in sits:
            substance = allergen(sit)
            if substance is not None and (_key(substance) == _key(o.name) or mentions(o.name, substance)):
                warnings.append(OptionWarning(sit.name, sit.label, None, f"the patient reports an allergy to {substance}"))
            seen: set[str] = set()
            for s in candidates:
                key = normalised(s.text)
                if key in seen or not sit.mentions.search(s.text):
                    continue
                seen.add(key)
                warnings.append(OptionWarning(sit.name, sit.label, s, f"mentions {sit.label} about {o.name}"))
                if len(seen) >= MAX_WARNINGS:
                    break
        out.append(replace(o, warnings=warnings))
    return out


def _known_medications(lexicon: Any, medications: list[str]) -> tuple[list[str], list[str]]:
    """(names the medicine lexicon knows as a whole, the others)."""
    known, unknown = [], []
    for m in medications:
        found = lexicon.find(m, limit=3)
        whole = any(f.kind == MEDICINE and _key(m[f.start:f.end]) == _key(m) for f in found)
        (known if whole else unknown).append(m)
    return known, unknown


def _with_interactions(kb: Any, options: list[Option], medications: list[str], model: Any,
                       synonyms: Any) -> tuple[list[Option], dict[str, Any]]:
    """Medicine options with their interaction check against each current medication."""
    from dataclasses import replace

    from kbqa.ddi.interactions import _as_synonyms, check
    from kbqa.ddi.names import canonical

    syn = _as_synonyms(synonyms)
    taken = {canonical(m, syn): m for m in medications}
    names: dict[str, str] = dict(taken)
    pairs = []
    for o in options:
        c = canonical(o.name, syn)
        if o.kind != MEDICINE or c in taken:
            continue
        names.setdefault(c, o.name)
        pairs += [(names[c], m) for m in medications]
    if not pairs:
        return options, {"pairs_checked": 0}
    report = check(kb, list(names.values()), model=model, synonyms=syn, pairs=pairs)
    by_option: dict[str, list[dict[str, Any]]] = {}
    for p in report.to_dict()["pairs"]:
        option, medication = p["drugs"]
        by_option.setdefault(option, []).append({"medication": medication, **p, "evidence": p["evidence"][:3]})
    out = [replace(o, interactions=by_option.get(names.get(canonical(o.name, syn), ""), [])) for o in options]
    prov = {k: v for k, v in report.provenance.items() if k in ("model", "threshold", "threshold_source", "note")}
    return out, {"pairs_checked": len(pairs), **prov}
