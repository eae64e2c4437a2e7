"""Rules for the medicine question types MedQuAD has no (or few) questions of: comparison, alternatives,
stopping, ingredients and interactions. Each is a phrase pattern of the asking text; interactions also
fire on two medicines named together with "with / and / together". A rule that fires sets the type
(docs/question_types.md); the classifier's learnt signal for these types comes from synthetic template
questions (kbqa.intent.train_qtype), which real phrasings outgrow."""

from __future__ import annotations

import re

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("comparison", re.compile(
        r"\b(?:difference between|differences? (?:of|in) \w+ (?:and|vs)|differ(?:s|ent)? from|compared? (?:to|with)|"
        r"comparison|versus|vs\.?|better than|worse than|same as|which is (?:better|safer|stronger|more effective))\b")),
    ("alternatives", re.compile(
        r"\b(?:alternatives?(?: to| for)?|instead of|substitutes? for|substitute|replacement for|replace \w+ with|"
        r"other (?:than|options? (?:than|besides))|besides taking)\b")),
    ("stopping", re.compile(
        r"\b(?:stop(?:ped|ping)? (?:taking|using)|taper(?:ing|ed)?(?: off)?|wean(?:ing|ed)? "
        r"(?:off|from)|come off|coming off|get off|getting off|quit(?:ting)? (?:taking|using)|discontinu\w+|"
        r"withdrawal (?:from|symptoms?|effects?)|cold turkey)\b")),
    ("ingredients", re.compile(
        r"\b(?:ingredients?|excipients?|gluten|lactose|gelatin|contain(?:s)? (?:any )?(?:gluten|lactose|sugar|alcohol|"
        r"dyes?|latex|sulfa|pork|animal)|made (?:of|from)|what is in)\b")),
    ("interactions", re.compile(
        r"\b(?:interact(?:s|ion|ions|ing)?|drug[- ]drug|contraindicated with|mix(?:ing)? \w+ (?:with|and)|"
        r"(?:with|and) (?:alcohol|grapefruit)|together with)\b")),
)
_MEDICINE_WORDS = re.compile(r"\b(?:drugs?|medicines?|medications?|meds|pills?|tablets?|capsules?|supplements?|"
                             r"prescriptions?|doses?|dosage|mg|antibiotics?|vitamins?|herbs?|inhalers?|injections?)\b")
_TOGETHER = re.compile(r"\b(?:with|and|together|while (?:taking|on)|along with|plus)\b")


def rule_type(text: str, medicines: int = 0) -> str | None:
    """The type a rule assigns to the asking ``text`` (None when no rule fires); ``medicines`` is how
    many medicines the question names (two or more with "with/and/together" mean interactions). The
    rules are for medicine questions: they fire only when the question names a medicine or says
    drug / medication / pill / supplement ..."""
    low = " ".join(text.lower().split())
    if medicines == 0 and not _MEDICINE_WORDS.search(low):
        return None  # these are medicine types: "the difference between two dysplasias" asks for a diagnosis
    for label, pattern in _RULES:
        if pattern.search(low):
            return label
    if medicines >= 2 and _TOGETHER.search(low) and re.search(r"\b(?:take|taking|took|use|using|on)\b", low):
        return "interactions"
    return None
