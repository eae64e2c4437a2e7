"""The patient's situation, read from free text, and the sentences that speak to it.

Each :class:`Situation` has the phrases that say a patient is in it (``found``) and the words a
contraindication or precaution sentence uses for it (``mentions``): "pregnant" in the patient text,
"pregnancy" / "unborn baby" in a drug label. Ages ("a 7-year-old", "aged 82") give the age groups.
"allergic to penicillin" gives an allergy to that substance. A phrase negated just before it ("not
pregnant", "no kidney disease", "denies liver problems") does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CHILD_MAX_AGE = 17
ELDERLY_MIN_AGE = 65
_NEGATION = re.compile(r"\b(?:not|no|never|denies|without|negative for|non)\b[\w\s-]{0,20}$", re.IGNORECASE)


@dataclass(frozen=True)
class Situation:
    name: str  # "pregnancy", "kidney_disease", ..., "allergy:penicillin"
    label: str  # in words, for the output
    phrase: str  # what the patient text said
    mentions: re.Pattern[str]  # how evidence sentences speak of it

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label, "phrase": self.phrase}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# name, label, found in the patient text, mentioned in evidence
RULES: tuple[tuple[str, str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("pregnancy", "pregnancy", _rx(r"\bpregnan\w*|\bexpecting a baby\b|\b(?:first|second|third) trimester\b"),
     _rx(r"\bpregnan\w*|\bunborn\b|\bfetus\b|\bfetal\b|\bfoetal\b|\bbirth defects?\b")),
    ("breastfeeding", "breastfeeding", _rx(r"\bbreast-?\s?feed\w*|\bnursing (?:a|her|my) baby\b|\blactat\w+"),
     _rx(r"\bbreast-?\s?feed\w*|\bbreast milk\b|\bnursing\b|\blactat\w+")),
    ("kidney_disease", "kidney disease", _rx(r"\b(?:kidney|renal)\b[\w\s-]{0,20}?(?:disease|failure|problems?|"
                                             r"insufficiency|impairment|damage)|\bon dialysis\b|\bCKD\b"),
     _rx(r"\bkidneys?\b|\brenal\b|\bdialysis\b")),
    ("liver_disease", "liver disease", _rx(r"\b(?:liver|hepatic)\b[\w\s-]{0,20}?(?:disease|failure|problems?|"
                                           r"impairment|damage)|\bcirrhosis\b|\bhepatitis\b"),
     _rx(r"\bliver\b|\bhepatic\b|\bcirrhosis\b|\bhepat\w+")),
    ("heart_disease", "heart disease", _rx(r"\b(?:heart|cardiac)\b[\w\s-]{0,20}?(?:disease|failure|problems?|"
                                           r"condition|attack)|\barrhythmias?\b|\bangina\b|\bcoronary\b"),
     _rx(r"\bheart\b|\bcardiac\b|\bcardiovascular\b|\barrhythmias?\b|\bQT\b")),
    ("child", "child", _rx(r"\b(?:child|children|kid|infant|baby|toddler|newborn|teenager|adolescent)\b"),
     _rx(r"\bchild(?:ren)?\b|\bpediatric\b|\bpaediatric\b|\binfants?\b|\badolescents?\b|\bteenagers?\b|"
         r"\byounger than \d+|\bunder (?:the age of )?\d+ years\b")),
    ("elderly", "older adult", _rx(r"\belderly\b|\bolder (?:adult|patient|person|man|woman)\b|\bsenior\b|\bgeriatric\b"),
     _rx(r"\belderly\b|\bolder (?:adults?|patients?|people)\b|\bgeriatric\b|\b(?:65|sixty-five) (?:years|or older)\b")),
)
_AGE = re.compile(r"\b(\d{1,3})[- ]?(?:years?|yrs?|y/?o)(?:[- ]old)?\b|\baged? (\d{1,3})\b|\b(\d{1,3})[- ]?(month|week)s?[- ]old\b",
                  re.IGNORECASE)
_ALLERGY = re.compile(r"\ballerg(?:ic|y|ies)\s+(?:to\s+)?([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)", re.IGNORECASE)
_ALLERGY_MENTION = r"\ballerg\w*|\bhypersensitiv\w*|\banaphyla\w*"


def _negated(text: str, start: int) -> bool:
    return bool(_NEGATION.search(text[max(0, start - 30):start]))


def situations(text: str | None) -> list[Situation]:
    """The situations ``text`` describes, in rule order, each once."""
    if not text or not text.strip():
        return []
    text = " ".join(text.split())
    found: dict[str, Situation] = {}
    by_name = {name: (label, mentions) for name, label, _, mentions in RULES}
    for name, label, says, mentions in RULES:
        for m in says.finditer(text):
            if not _negated(text, m.start()):
                found.setdefault(name, Situation(name, label, m.group(0), mentions))
                break
    for m in _AGE.finditer(text):
        if _negated(text, m.start()):
            continue
        years = 0 if m.group(4) else int(m.group(1) or m.group(2))
        group = "child" if years <= CHILD_MAX_AGE else "elderly" if years >= ELDERLY_MIN_AGE else None
        if group is not None:
            label, mentions = by_name[group]
            found.setdefault(group, Situation(group, label, m.group(0), mentions))
    for m in _ALLERGY.finditer(text):
        what = m.group(1).strip()
        first = what.split()[0].lower()
        if _negated(text, m.start()) or first in {"to", "and", "or", "with", "but", "medications", "medicines"}:
            continue
        what = what.split()[0] if what.split()[-1].lower() in {"and", "or", "with", "but", "since"} else what
        found.setdefault(f"allergy:{what.lower()}", Situation(
            f"allergy:{what.lower()}", f"allergy to {what}", m.group(0),
            _rx(rf"(?:{_ALLERGY_MENTION})[^.]*\b{re.escape(what)}|\b{re.escape(what)}\b[^.]*(?:{_ALLERGY_MENTION})")))
    return list(found.values())


def allergen(situation: Situation) -> str | None:
    return situation.name.split(":", 1)[1] if situation.name.startswith("allergy:") else None
