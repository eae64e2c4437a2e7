"""The documented question-type set (docs/question_types.md) and the mappings of MedQuAD's and LiveQA's
annotated types onto it. Plain data: nothing here loads a model."""

from __future__ import annotations

CONDITION_TYPES = ("information", "symptoms", "causes", "diagnosis", "treatment", "prevention", "prognosis",
                   "susceptibility", "inheritance", "complications", "frequency")
MEDICINE_TYPES = ("usage", "dosage", "side_effects", "interactions", "contraindications", "action", "storage",
                  "overdose", "ingredients", "stopping", "alternatives", "brand_names", "comparison")
TYPES = CONDITION_TYPES + MEDICINE_TYPES + ("yes_no", "other")

# MedQuAD's qtype (lower case, as in the XML) -> type. All 39 spellings found in the 12 collections.
MEDQUAD = {
    "information": "information",
    "other information": "other",  # MPlusDrugs "What other information should I know about X?"
    "considerations": "other",  # NIDDK "What to do for X?" (diet, self-care)
    "stages": "diagnosis",  # staging is part of the work-up (CancerGov)
    "research": "other",  # clinical trials
    "support groups": "other",
    "how can i learn more": "other",
    "when to contact a medical professional": "other",  # "Do I need to see a doctor for X?"
    "symptoms": "symptoms",
    "causes": "causes",
    "genetic changes": "causes",
    "exams and tests": "diagnosis",
    "treatment": "treatment",
    "prevention": "prevention",
    "why get vaccinated": "prevention",
    "outlook": "prognosis",
    "susceptibility": "susceptibility",
    "inheritance": "inheritance",
    "complications": "complications",
    "frequency": "frequency",
    "usage": "usage",  # "How should X be used and what is the dosage?" (MPlusDrugs)
    "indication": "usage",  # "Why is X prescribed?"
    "dietary": "usage",  # "What special dietary instructions should I follow with X?"
    "how effective is it": "usage",  # herbs: "How effective is X?" (what it is used for, with what evidence)
    "dose": "dosage",
    "forget a dose": "dosage",
    "side effects": "side_effects",
    "severe reaction": "side_effects",
    "important warning": "side_effects",  # boxed warnings: serious adverse effects
    "interactions with medications": "interactions",
    "interactions with herbs and supplements": "interactions",
    "interactions with foods": "interactions",
    "precautions": "contraindications",
    "contraindication": "contraindications",
    "how does it work": "action",
    "storage and disposal": "storage",
    "emergency or overdose": "overdose",
    "brand names": "brand_names",
    "brand names of combination products": "brand_names",
}

# LiveQA's annotated TYPE (lower case) -> type (TREC 2017 LiveQA medical training questions).
LIVEQA = {
    "information": "information",
    "treatment": "treatment",
    "cause": "causes",
    "genetic changes": "causes",
    "association": "causes",  # "is X linked to Y?": what causes / relates to it
    "diagnosis": "diagnosis",
    "diagnose_me": "diagnosis",
    "prognosis": "prognosis",
    "susceptibility": "susceptibility",
    "symptom": "symptoms",
    "inheritance": "inheritance",
    "complication": "complications",
    "prevention": "prevention",
    "side effects": "side_effects",
    "usage": "usage",
    "indication": "usage",
    "dosage": "dosage",
    "contraindication": "contraindications",
    "interaction": "interactions",
    "storage and disposal": "storage",
    "tapering": "stopping",
    "ingredient": "ingredients",
    "organization": "other",  # "where can I find a specialist / trial / support group?"
    "resources": "other",
}


def from_medquad(qtype: str) -> str:
    """The type of a MedQuAD qtype; an unknown one is a ValueError (extend :data:`MEDQUAD`)."""
    key = " ".join(qtype.lower().split())
    if key not in MEDQUAD:
        raise ValueError(f"unknown MedQuAD qtype {qtype!r}; add it to kbqa.intent.types.MEDQUAD")
    return MEDQUAD[key]


def from_liveqa(qtype: str) -> str:
    """The type of a LiveQA annotation; an unknown one is a ValueError (extend :data:`LIVEQA`)."""
    key = " ".join(qtype.lower().split())
    if key not in LIVEQA:
        raise ValueError(f"unknown LiveQA type {qtype!r}; add it to kbqa.intent.types.LIVEQA")
    return LIVEQA[key]
