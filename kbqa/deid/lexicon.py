"""Word lists the recognizers read: person names (US census 1990, from the ``names`` package) and the
clinical words that must never be taken for a name (drug names, eponymous diseases, medical vocabulary)."""

from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

# Eponyms that are surnames in the census list but, in a medical text, name a disease, sign or test.
# A capitalised word here is never replaced by [NAME] (a name with a title, "Dr. Parkinson", still is).
EPONYMS = frozenset("""
addison alzheimer apgar asperger barrett behcet bright broca burkitt chagas charcot cheyne conn
creutzfeldt crohn cushing down duchenne dupuytren ehlers epstein ewing fabry fallot gaucher graves
guillain barre hashimoto hirschsprung hodgkin horner huntington jakob kaposi kawasaki klinefelter korsakoff
krabbe lou gehrig lyme marfan meniere munchausen niemann paget parkinson peyronie pick prader raynaud reiter
rett reye sjogren tay sachs tourette usher von willebrand wegener wernicke whipple
wilms wolff parkinson's alzheimer's crohn's hodgkin's huntington's addison's cushing's graves'
down's tourette's raynaud's paget's meniere's asperger's sjogren's barrett's lyme
apley babinski kernig brudzinski romberg mcburney rovsing trendelenburg homan homans tinel phalen
glasgow framingham westergren papanicolaou pap gram ziehl coombs heimlich valsalva foley swan ganz
""".split())

# Words the census lists hold that are ordinary English (or clinical) words when capitalised at a
# sentence start or in a heading: a lone one is not a name without a title or a name beside it.
COMMON = frozenset("""
a about after all also an and any are as at be because been before being best black blue both brown but by
can case cause chance child christian clay cold cook day dean doctor does early faith for frank free from
fuller gay general german girl good gold grace gray green grey hale hall happy hard has have he head health
heart help her here high hill his hope how i if in is it its just king lane last lee legs little long love
low lucky major many march mark may me medical miles mood more most much my new news nurse of old on or
our over page park patient people pain person price rich right rock rose same says she short should small
so some son spring stone story summer sun sweet than that the their then there they this those to today
under up very walker was ward we well were west what when white who why will wise with wood worth would
young your sugar blood heart kidney liver bone brain skin cancer fever stroke rash mass
i i'm im iam you he see soon call getting seen link server common eye loose ring address friends community
center school high please send sent email phone fax contact monday tuesday wednesday thursday friday
saturday sunday january february april june july august september october november december ontology
human mental syndrome disease disorder india israel nevada houston georgia virginia carolina dakota florida
""".split())

# Medical vocabulary that appears in the surname list ("Heart", "Blood", "Payne" aside)
CLINICAL_WORDS = frozenset("""
acne aids angina apnea asthma biopsy blister bruise cancer chill clot colic cough cramp cyst fever flu gout
hernia hives lupus mole mumps nausea polio rash scar shingles stroke tumor ulcer wart
aspirin tylenol advil motrin aleve insulin lasix coumadin heparin zoloft prozac paxil xanax valium
""".split())

_WORD = re.compile(r"[a-z][a-z'\-]+")


def _census(name: str) -> frozenset[str]:
    """One census file of the ``names`` package: the first column, lower case."""
    try:
        text = resources.files("names").joinpath(name).read_text(encoding="ascii")
    except ModuleNotFoundError as exc:  # pragma: no cover - a dependency of the deid extra
        raise ImportError("kbqa's de-identification needs the 'names' package (a kbqa dependency): "
                          "pip install -c constraints.txt -e .") from exc
    return frozenset(line.split()[0].lower() for line in text.splitlines() if line.strip())


@functools.cache
def first_names() -> frozenset[str]:
    return _census("dist.male.first") | _census("dist.female.first")


@functools.cache
def last_names() -> frozenset[str]:
    return _census("dist.all.last")


@functools.cache
def drug_names() -> frozenset[str]:
    """Single-word drug names from the committed DDI model's list (models/ddi/drug_names.txt), when present."""
    from kbqa.paths import model_dir

    folder = model_dir("ddi")
    path = Path(folder) / "drug_names.txt" if folder else None
    if path is None or not path.is_file():
        return frozenset()
    words = set()  # one-word names only: "human" of "human insulin" is no drug
    for line in path.read_text(encoding="utf-8").splitlines():
        found = _WORD.findall(line.lower())
        if len(found) == 1 and found[0] == line.strip().lower():
            words.add(found[0])
    return frozenset(w for w in words if len(w) > 3)


@functools.cache
def clinical_words() -> frozenset[str]:
    """Words never replaced as a name on their own (without a title before them)."""
    return EPONYMS | CLINICAL_WORDS | drug_names()


def read_allow_list(path: str | Path) -> frozenset[str]:
    """Extra clinical words, one term per line ('#' comments): each word of a term is protected."""
    from kbqa.errors import KbqaError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KbqaError(f"allow-list not found: {p}") from None
    except UnicodeDecodeError:
        raise KbqaError(f"{p}: not UTF-8 text; give one clinical term per line") from None
    return frozenset(w for line in text.splitlines() for w in _WORD.findall(line.split("#", 1)[0].lower()))
