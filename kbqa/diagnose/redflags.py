"""Red flags: descriptions that suggest an emergency, flagged whatever the differential says.

This module is the one place the rules live. Each :class:`Rule` needs every one of its ``all_of``
groups to match somewhere in the description (a group matches when any of its regular expressions
does), each match not negated ("no chest pain", "denies fainting", "without fever": a negation word
among the four words before it, in the same clause). The flag names the phrases that triggered it
and says "seek emergency care". Every rule carries examples that must flag and near misses that must
not; ``tests/test_diagnose_redflags.py`` checks both for every rule.

| rule | flags when the description mentions |
|---|---|
| ``chest_pain_breathless`` | chest pain/pressure/tightness together with breathlessness |
| ``chest_pain_spreading`` | chest pain/pressure spreading to the arm, jaw, neck, shoulder or back |
| ``stroke_signs`` | sudden one-sided weakness or numbness, facial droop, or trouble speaking / slurred speech |
| ``difficulty_breathing`` | difficulty breathing, cannot breathe, gasping for air, blue lips |
| ``fainting`` | fainting, passing out, blacking out, losing consciousness, collapsing |
| ``severe_bleeding`` | heavy or uncontrolled bleeding, vomiting or coughing up blood, black tarry stools |
| ``self_harm`` | thoughts of suicide or self-harm, wanting to die |
| ``anaphylaxis`` | throat, tongue, lip or face swelling after an exposure (food, sting, bite, medicine), or a throat closing up |
| ``meningitis_signs`` | a stiff neck together with fever |
| ``thunderclap_headache`` | the worst or a sudden, explosive headache |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ADVICE = "seek emergency care now (call your local emergency number); do not wait for a diagnosis"
_NEGATION = re.compile(r"\b(?:no|not|never|denies|denied|deny|without|none|nor|negative for|free of|n't)\b|n't\b",
                       re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.;:!?]|\bbut\b|\bhowever\b", re.IGNORECASE)


@dataclass(frozen=True)
class Rule:
    name: str
    label: str
    all_of: tuple[tuple[str, ...], ...]  # groups of regexes; every group must match (unnegated)
    flags: tuple[str, ...] = ()  # descriptions that must be flagged (tests)
    near_misses: tuple[str, ...] = ()  # descriptions that must not be (tests)
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = tuple(re.compile("|".join(f"(?:{p})" for p in group), re.IGNORECASE) for group in self.all_of)
        object.__setattr__(self, "_compiled", compiled)

    def phrases(self, text: str) -> list[str] | None:
        """The phrase matched for each group (first unnegated match), or None when a group has none."""
        found = []
        for pattern in self._compiled:
            phrase = next((m.group(0) for m in pattern.finditer(text) if not _negated(text, m.start())), None)
            if phrase is None:
                return None
            found.append(phrase)
        return found


@dataclass(frozen=True)
class RedFlag:
    rule: str
    label: str
    phrases: list[str]
    advice: str = ADVICE

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "flag": self.label, "phrases": self.phrases, "advice": self.advice}


def _negated(text: str, start: int) -> bool:
    """A negation word among the four words before ``start``, within the same clause."""
    before = text[max(0, start - 60):start]
    clause = _CLAUSE_END.split(before)[-1]
    words = clause.split()[-4:]
    return bool(_NEGATION.search(" ".join(words)))


_CHEST = (r"chest (?:pain|pressure|tightness|discomfort|hurts?|aches?)", r"chest (?:feels|is|gets|felt) (?:tight|heavy|crushed)", r"pain in (?:my|the|his|her) chest",
          r"(?:tight|heavy|crushing|squeezing) (?:feeling in (?:my|the) )?chest", r"angina")
_BREATHLESS = (r"short(?:ness)? of breath", r"breathless(?:ness)?", r"(?:can'?t|cannot|could not|couldn'?t) "
               r"(?:catch my|get my) breath", r"out of breath", r"(?:hard|difficult|difficulty|trouble|struggling) "
               r"(?:to )?breath(?:e|ing)", r"winded", r"dyspn(?:o)?ea")

RULES: tuple[Rule, ...] = (
    Rule(
        "chest_pain_breathless", "chest pain with breathlessness",
        (_CHEST, _BREATHLESS),
        flags=("Crushing chest pain and shortness of breath for the last hour",
               "my chest feels tight and I am out of breath when walking"),
        near_misses=("chest pain when I press on my ribs after lifting weights, no shortness of breath",
                     "shortness of breath when climbing stairs for months"),
    ),
    Rule(
        "chest_pain_spreading", "chest pain spreading to the arm, jaw or back",
        (_CHEST, (r"(?:spread|spreading|spreads|radiat\w*|goes|going|moving|moves|shoot\w*) (?:down |up |in)?(?:to |into )?"
                  r"(?:my |the |his |her )?(?:left |right )?(?:arm|jaw|neck|shoulder|back)",
                  r"(?:arm|jaw) (?:pain|ache|hurts|numb\w*)")),
        flags=("chest pressure spreading to my left arm and sweating",
               "pain in my chest that radiates to the jaw"),
        near_misses=("chest pain after coughing for a week",
                     "pain spreading down my left arm after a fall, no chest pain"),
    ),
    Rule(
        "stroke_signs", "sudden one-sided weakness, facial droop or trouble speaking",
        ((r"(?:face|facial|mouth|smile) (?:is )?(?:droop\w*|drooping|sagging|uneven|lopsided)",
          r"droop\w* (?:of )?(?:the |my |his |her )?(?:face|mouth|side of (?:the |my )?face)",
          r"(?:sudden|suddenly)\b[^.]{0,40}\b(?:weak\w*|numb\w*|paralys\w*)",
          r"(?:weak\w*|numb\w*|paralys\w*|can'?t move)[^.]{0,30}\b(?:one|left|right) side",
          r"(?:one|left|right)[- ]sided (?:weakness|numbness|paralysis)",
          r"slurred speech", r"slurring (?:my |his |her )?words", r"(?:trouble|difficulty|problems?) (?:speaking|talking|"
          r"finding words|getting words out)", r"(?:can'?t|cannot|unable to) (?:speak|talk)"),),
        flags=("my father's face is drooping on one side and his speech is slurred",
               "sudden weakness in my right arm and leg this morning",
               "trouble speaking since an hour ago"),
        near_misses=("weakness in both legs after the flu, slowly over months",
                     "no slurred speech or facial droop, just a mild headache"),
    ),
    Rule(
        "difficulty_breathing", "difficulty breathing",
        ((r"(?:difficulty|trouble|struggling|struggle|hard|labou?red) (?:to )?breath(?:e|ing)",
          r"(?:can'?t|cannot|unable to|could not|couldn'?t) breathe", r"gasping(?: for (?:air|breath))?",
          r"(?:lips|face|fingers) (?:are |is )?(?:turning |turned |going )?(?:blue|bluish|grey|gray)",
          r"choking", r"severe(?:ly)? short(?:ness)? of breath"),),
        flags=("my child is struggling to breathe and wheezing", "I can't breathe when lying down, lips turning blue"),
        near_misses=("no trouble breathing, only a runny nose", "a stuffy nose that makes me breathe through my mouth"),
    ),
    Rule(
        "fainting", "fainting or loss of consciousness",
        ((r"faint(?:ed|ing)?\b(?!ly)", r"pass(?:ed|ing|es)? out", r"black(?:ed|ing)? out", r"blackouts?",
          r"los(?:t|e|ing) consciousness", r"unconscious", r"syncope", r"collaps(?:ed|ing)"),),
        flags=("I fainted twice this week after standing up", "he passed out at work"),
        near_misses=("no fainting or dizziness", "a faintly itchy rash on my arms"),
    ),
    Rule(
        "severe_bleeding", "severe bleeding",
        ((r"(?:heavy|heavily|severe|profuse|uncontrolled|a lot of|lots of) (?:\w+ )?bleed\w*",
          r"bleed\w* (?:heavily|profusely|a lot|non-?stop|that won'?t stop|won'?t stop|will not stop)",
          r"(?:won'?t|will not|doesn'?t|does not) stop bleeding",
          r"(?:vomit\w*|throw\w* up|cough\w* up|spit\w* up) (?:\w+ )?blood", r"blood in (?:my |the )?vomit",
          r"black,? (?:and )?tarry stools?", r"soak\w* through (?:a |my )?pads?"),),
        flags=("I have been vomiting blood since last night", "a cut on my leg that won't stop bleeding"),
        near_misses=("my gums bleed a little when I brush my teeth", "no bleeding, only bruising on my shins"),
    ),
    Rule(
        "self_harm", "thoughts of suicide or self-harm",
        ((r"suicid\w*", r"kill(?:ing)? (?:my|him|her)sel(?:f|ves)", r"end(?:ing)? (?:my|his|her) (?:own )?life",
          r"self[- ]harm\w*", r"(?:hurt|harm|cut)(?:ting)? (?:my|him|her)self", r"(?:want|wanting|wish) to die",
          r"(?:don'?t|do not) want to (?:live|be alive|wake up)", r"better off dead"),),
        flags=("I feel hopeless and have been thinking about killing myself", "thoughts of self-harm for weeks"),
        near_misses=("no thoughts of self-harm, but I feel low and tired", "I cut my finger while cooking"),
    ),
    Rule(
        "anaphylaxis", "throat or face swelling after an exposure",
        ((r"(?:throat|tongue|lips?|face|facial|mouth|eyelids?)\b[^.]{0,25}\b(?:swell\w*|swollen|puff\w*|closing|tight\w*)",
          r"(?:swell\w*|swollen|puffy) (?:\w+ ){0,3}(?:throat|tongue|lips?|face|mouth)"),
         (r"after (?:eating|i ate|he ate|she ate|taking|i took|a (?:bee|wasp|insect)|being stung|being bitten|"
          r"an injection|a shot|the injection|starting)", r"\bstung\b", r"\bsting\b", r"\bbitten\b",
          r"peanuts?", r"nuts?\b", r"shellfish|shrimp", r"penicillin|antibiotic|medicine|medication|drug",
          r"allerg\w*", r"exposure|exposed", r"throat (?:is )?closing")),
        flags=("my lips and tongue are swelling after eating peanuts", "face swollen and throat tight after a bee sting"),
        near_misses=("puffy eyelids in the morning that go away by noon",
                     "ankle swelling after taking a new blood pressure medicine"),
    ),
    Rule(
        "meningitis_signs", "stiff neck with fever",
        ((r"stiff(?:ness)? (?:in )?(?:the |my |his |her )?neck", r"neck (?:is )?(?:stiff\w*|rigid\w*)",
          r"(?:can'?t|cannot|unable to) (?:bend|move|touch) (?:my |his |her )?(?:neck|chin to (?:my |his |her )?chest)"),
         (r"fevers?", r"febrile", r"high temperature", r"temperature of \d", r"chills")),
        flags=("high fever, headache and a stiff neck since this morning", "neck is stiff and she has a fever and a rash"),
        near_misses=("stiff neck after sleeping in a bad position", "stiff neck for a week, no fever"),
    ),
    Rule(
        "thunderclap_headache", "sudden, severe headache",
        ((r"worst headache", r"thunderclap", r"(?:sudden|suddenly|explosive)\b[^.]{0,20}\b(?:severe |bad |intense )?"
          r"headache", r"headache[^.]{0,20}\b(?:came on|started) (?:suddenly|all of a sudden|in seconds)"),),
        flags=("the worst headache of my life came on while lifting", "a sudden explosive headache an hour ago"),
        near_misses=("a dull headache every afternoon for weeks", "no sudden headache, just tiredness"),
    ),
)


def red_flags(text: str, rules: tuple[Rule, ...] = RULES) -> list[RedFlag]:
    """The rules ``text`` triggers, in the order of :data:`RULES`, each with its triggering phrases."""
    out = []
    for rule in rules:
        phrases = rule.phrases(text)
        if phrases is not None:
            out.append(RedFlag(rule.name, rule.label, phrases))
    return out
