"""Person names: census name lists plus context, with clinical words guarded.

A run of capitalised words is a name when
- a title or a context phrase stands before it ("Dr.", "Mrs", "patient", "my son", "name is", "signed"),
  or a degree after it (", MD", "RN");
- it is two to four words, the first a census first name and the last a census surname ("Maria Lopez",
  "J. Smith" after a first name), or "Surname, Firstname";
- it is one census first name that is not an ordinary English word (a lone "Rose" at a sentence start is not).
Words of ``lexicon.clinical_words()`` (drug names, eponymous diseases such as "Parkinson", "Graves")
are never a name without a title, and never one when followed by "disease", "syndrome", "'s", ....
"""

from __future__ import annotations

import regex as re

from kbqa.deid import lexicon

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’\-]*\.?|[,;:!?()\[\]\"]|\d+|\n")
_TITLE = frozenset(
    "mr mr. mrs mrs. ms ms. miss mx mx. dr dr. doctor prof prof. professor sr sr. jr nurse sister brother "
    "father mother rev rev. pastor officer attorney judge sen. rep. gov. capt. sgt. lt. col. mister madam pt pt.".split()
)
_DEGREE = re.compile(r"^\s*,?\s*(?:M\.?D\.?|D\.?O\.?|R\.?N\.?|N\.?P\.?|P\.?A\.?-?C?|Ph\.?D\.?|MSN|DNP|PharmD|DDS|DMD|"
                     r"LPN|CNA|FNP|MBBS|FACP|FACS|LCSW|MSW|PT|OT|DPM)\b")
# context phrases: the name follows within two tokens (lower-cased match on the preceding words)
_CONTEXT = re.compile(
    r"(?:\b(?:patient|pt|son|daughter|wife|husband|mom|mum|mother|dad|father|brother|sister|grandson|"
    r"granddaughter|grandmother|grandma|grandfather|grandpa|aunt|uncle|niece|nephew|cousin|friend|boyfriend|"
    r"girlfriend|fiance|fiancee|spouse|partner|caregiver|guardian|neighbor|neighbour|roommate|colleague|"
    r"physician|surgeon|pcp|doctor|dr|nurse|therapist|pharmacist|dentist|oncologist|cardiologist|"
    r"attending|resident|intern|provider|named|name|names|called|signed|regards|sincerely|thanks|thank you|"
    r"dear|hi|hello|hey|cc|from|by|contact|i am|i'm|im|this is|my name is|name is|baby|child|kid|mr|mrs|ms|"
    r"referred by|seen by|seen with|accompanied by|per|with|and|to|for|wrote|says|said|asked|told|"
    r"admitted|discharged|discussed with|spoke with|spoke to|met with|visited|visit|saw|meet|met|ask)"
    r"\s*[:,.\-]?\s*)$"
)
_STRONG_CONTEXT = re.compile(
    r"(?:\b(?:patient|pt|son|daughter|wife|husband|mom|mum|mother|dad|father|brother|sister|grandson|"
    r"granddaughter|grandmother|grandfather|aunt|uncle|niece|nephew|cousin|friend|spouse|partner|caregiver|"
    r"guardian|neighbor|neighbour|named|name|name is|names are|called|signed|regards|sincerely|dear|cc|"
    r"i am|i'm|this is|referred by|seen by|accompanied by|physician|surgeon|pcp|nurse|therapist|attending)"
    r"\s*[:,.\-]?\s*)$"
)
_AFTER_CLINICAL = re.compile(r"^(?:'s|’s|s'|')?\s*(?i:disease|syndrome|disorder|palsy|sign|test|score|scale|"
                             r"criteria|sarcoma|lymphoma|tumou?r|phenomenon|reflex|maneuver|manoeuvre|procedure|"
                             r"operation|classification|stage|ulcer|anomaly|dystrophy|ataxia|chorea|law|rule|"
                             r"node|cell|cells|body|bodies|type|plus|stain|solution|catheter|tube|"
                             r"encephalopathy|neuropathy|neuralgia|contracture|fracture|hernia)\b")
_MAX_RUN = 4
# what follows a name in a note: ", 92 y.o.", ", 67F", " (MRN ...", ", DOB ..."
_NAME_AFTER = re.compile(r"^(?:,\s*(?:\d{1,3}\s*(?:-?\s*(?:year|yr|y\.?\s?o\b|yo\b|[MF]\b))|(?i:age[d:]?|dob|mrn|born)\b)"
                         r"|\s*\((?i:mrn|dob|id|age|born|\d{1,3}\s*(?:y|yo|[MF])\b))")
_INITIAL = re.compile(r"^[A-Z]\.$")
_NOT_AFTER_TITLE = frozenset("dob i i'm im my the".split())
_CLINICAL_HEADS = frozenset("syndrome disease disorder deficiency dystrophy palsy anemia anaemia cancer tumor tumour "
                            "carcinoma sarcoma lymphoma leukemia infection fever shock health".split())
_STOP = frozenset("the a an this that these my his her our their your its i we he she it they you in on at for to of "
                  "and or but if is was are be by with from as not no".split())


def _is_cap(word: str) -> bool:
    return word[0].isupper() and (len(word) == 1 or not word[1:].isupper() or len(word) <= 3 or word.isupper())


def _key(word: str) -> str:
    return word.rstrip(".").lower().replace("’", "'")


def _base(word: str) -> str:
    k = _key(word)
    return k[:-2] if k.endswith("'s") else k


def find_names(text: str, clinical: frozenset[str] | None = None) -> list[tuple[int, int, float, str]]:
    """(start, end, score, rule) of each person name found in ``text``."""
    clinical = lexicon.clinical_words() if clinical is None else clinical
    first, last = lexicon.first_names(), lexicon.last_names()
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    found: list[tuple[int, int, float, str]] = []
    i = 0
    while i < len(tokens):
        s, e, w = tokens[i]
        if not (w[0].isalpha() and _is_cap(w)) and not _lower_context_name(text, tokens, i, first, last, clinical):
            i += 1
            continue
        # the run of capitalised words (initials "J." included) starting here
        j = i
        lower = not _is_cap(w)  # "my name is john smith": a listed surname may follow in lower case
        while j < len(tokens) and j - i < _MAX_RUN and tokens[j][2][0].isalpha() and (
            _is_cap(tokens[j][2]) or j == i or (lower and j == i + 1 and _base(tokens[j][2]) in last
                                                and _base(tokens[j][2]) not in lexicon.COMMON
                                                and _base(tokens[j][2]) not in _STOP and _base(tokens[j][2]) not in clinical)
        ) and (j == i or text[tokens[j - 1][1]:tokens[j][0]] in (" ", "-")):
            if j > i and _key(tokens[j][2]) in _STOP and not _INITIAL.match(tokens[j][2]):
                break
            if j > i and (_key(tokens[j - 1][2]) in _TITLE or (tokens[j - 1][2].endswith(".") and len(tokens[j - 1][2]) > 2)):
                break  # "Dr. Patel. DOB": a full stop after a word (not an initial) ends the run
            j += 1
        run = tokens[i:j]
        words = [_base(t[2]) for t in run]
        before = text[max(0, s - 40):s].lower()
        prev = _key(tokens[i - 1][2]) if i > 0 else ""
        sentence_start = i == 0 or tokens[i - 1][2] in ("\n",) or text[:s].rstrip().endswith((".", "!", "?", ":", "\n"))
        after = text[run[-1][1]:run[-1][1] + 40]
        if _key(w) in _TITLE:  # "Dr. Smith": the words after the title
            i += 1
            continue
        titled = prev in _TITLE
        # trim words after the last one that is a census name: "Travis Higgins Login" -> "Travis Higgins"
        strong = bool(_STRONG_CONTEXT.search(before))
        while len(run) > 1 and words[-1] not in last and words[-1] not in first and not _INITIAL.match(run[-1][2]):
            tail = run[-1][2]
            unlisted_surname = ("-" in tail or "'" in tail or "’" in tail or titled or strong) and not (
                (tail.isupper() and not run[0][2].isupper()) or words[-1] in lexicon.COMMON or words[-1] in _STOP or words[-1] in clinical
            )
            if unlisted_surname:  # "Mary-Jane O'Connor", "Patient Fatima Al-Sayed"
                break
            run, words = run[:-1], words[:-1]
        after = text[run[-1][1]:run[-1][1] + 40]
        last_first = (len(run) == 1 and i + 2 < len(tokens) and tokens[i + 1][2] == "," and words[0] in last
                      and _is_cap(tokens[i + 2][2]) and (not tokens[i + 2][2].isupper() or w.isupper())
                      and _base(tokens[i + 2][2]) in first and _base(tokens[i + 2][2]) not in clinical)
        # an eponym after a first name is a surname ("Emily Bell"); before "disease" it is not
        guarded = bool(_AFTER_CLINICAL.match(after)) or any(x in _CLINICAL_HEADS for x in words) or (
            any(x in clinical for x in words) and not (len(run) > 1 and words[0] in first and words[0] not in clinical)
        )
        if guarded and not (titled or last_first or _DEGREE.match(after)):
            i = j
            continue
        score, rule = 0.0, ""
        degree = bool(_DEGREE.match(after))
        strong = bool(_STRONG_CONTEXT.search(before))
        shouting = any(t[2].isupper() and len(t[2].rstrip(".")) > 1 for t in run)
        if titled or degree:
            score, rule = (0.9, "title") if not all(x in _STOP for x in words) and _key(w) not in _NOT_AFTER_TITLE else (0, "")
        elif last_first and (strong or _CONTEXT.search(before) or words[0] not in lexicon.COMMON):
            score, rule = 0.8, "last, first"
        elif strong and not shouting and (words[0] in first or words[-1] in last) and not all(
            x in _STOP for x in words
        ):
            score, rule = 0.85, "context"
        elif (strong or (_NAME_AFTER.match(after) and not shouting)) and 1 < len(run) <= 3 and not any(
            x in lexicon.COMMON or x in _STOP or x in clinical for x in words
        ):
            score, rule = 0.75, "context, unlisted name"  # "Patient Wei Zhang", "Kwame Mensah, 92 y.o."
        elif all(x in lexicon.COMMON or x in _STOP for x in words) or (
            shouting and not (words[0] in first and words[-1] in last and len(run) > 1)
        ) or (shouting and any(x in lexicon.COMMON or x in _STOP for x in words)):
            pass  # pronouns, "IP", "MY CASE TOOK ME": not a name
        elif len(run) >= 2 and words[0] in first and (words[-1] in last or words[-1] in first):
            score, rule = 0.85, "first last"
        elif len(run) == 1 and not w.isupper() and words[0] in first and words[0] not in lexicon.COMMON and not (
            sentence_start and words[0] in last and not _CONTEXT.search(before)
        ):
            score, rule = 0.6, "first name"
        elif _CONTEXT.search(before) and words[0] in first and (len(run) == 1 or words[-1] in last) and not any(
            x in lexicon.COMMON for x in words
        ):
            score, rule = 0.6, "weak context"
        if score and len(run) == 1 and i + 2 < len(tokens) and tokens[i + 1][2] == "," and _is_cap(tokens[i + 2][2]) \
                and (not tokens[i + 2][2].isupper() or w.isupper()) and _base(tokens[i + 2][2]) in first \
                and words[0] in last:
            run = tokens[i:i + 3]  # "Krause, Mary"
        if score:
            found.append((run[0][0], run[-1][1], score, rule))
            i = i + len(run)
        elif len(tokens[i:j]) > 1:
            i += 1  # "Patient John Doe": try again from the next word
        else:
            i = max(j, i + 1)
    return found


def _lower_context_name(text, tokens, i, first, last, clinical) -> bool:
    """A lower-case name right after a strong context phrase: "my son john"."""
    w = _base(tokens[i][2])
    if not w.isalpha() or w in lexicon.COMMON or w in clinical or (w not in first):
        return False
    return bool(_STRONG_CONTEXT.search(text[max(0, tokens[i][0] - 30):tokens[i][0]].lower()))
