"""TREC 2017 LiveQA medical training questions (``../shared/data/liveqa_train``): real consumer questions.

Each ``<NLM-QUESTION>`` is a message someone sent to the U.S. National Library of Medicine (subject
line + message, as written), split into sub-questions annotated with a focus (what is asked about) and a
question type, each with reference answers. Two files, two schemas:

- ``...-Train-1.xml``: ``<NLM-QUESTION questionid="Q1">``, ``<SUB-QUESTION subqid="Q1-S1">``,
  ``<ANSWER answerid="Q1-S1-A1">``;
- ``...-Train-2.xml``: ``<NLM-QUESTION qid="1.0">`` and no ids below it.

Ids are made unique across files: ``T1-Q1``, ``T2-1`` (the file's number, then its question id);
sub-questions ``{qid}-S{n}`` and answers ``{sub id}-A{m}`` (1-based, in file order) when the file has none.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import InputError

_FILE = re.compile(r"Train-(\d+)\.xml$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class SubQuestion:
    sub_id: str
    focus: str
    qtype: str  # lower case: "treatment", "information", ...
    answers: tuple[tuple[str, str], ...]  # (answer id, text)


@dataclass(frozen=True)
class LiveQuestion:
    qid: str
    subject: str
    message: str
    subs: tuple[SubQuestion, ...]
    source: str  # the file it came from

    @property
    def text(self) -> str:
        """What the person sent: the subject line, then the message."""
        return "\n".join(part for part in (self.subject, self.message) if part)

    @property
    def short_text(self) -> str:
        """The subject line and the first sentence of the message (the short variant of the benchmark)."""
        first = _SENTENCE_END.split(self.message, maxsplit=1)[0] if self.message else ""
        return "\n".join(part for part in (self.subject, first) if part)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def read_file(path: str | Path) -> list[LiveQuestion]:
    """The questions of one LiveQA training file; broken XML or a question without an id is an InputError."""
    path = Path(path)
    match = _FILE.search(path.name)
    tag = f"T{match.group(1)}" if match else path.stem
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"broken XML: {exc}; fix or replace the file", path=str(path), line=exc.position[0]) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from None
    if root.tag != "NLM-QUESTIONS":
        raise InputError(f"root element is <{root.tag}>, expected LiveQA's <NLM-QUESTIONS>", path=str(path))
    out: list[LiveQuestion] = []
    seen: set[str] = set()
    for n, q in enumerate(root.findall("NLM-QUESTION"), 1):
        raw_id = q.get("questionid") or q.get("qid")
        if not raw_id:
            raise InputError(f"question {n} has neither questionid nor qid", path=str(path))
        qid = f"{tag}-{raw_id.removesuffix('.0')}"
        if qid in seen:
            raise InputError(f"question id {raw_id!r} occurs twice", path=str(path))
        seen.add(qid)
        subs = []
        for s, sub in enumerate(q.findall("SUB-QUESTIONS/SUB-QUESTION"), 1):
            sub_id = f"{tag}-{sub.get('subqid')}" if sub.get("subqid") else f"{qid}-S{s}"
            answers = []
            for a, ans in enumerate(sub.findall("ANSWERS/ANSWER"), 1):
                text = _clean("".join(ans.itertext()))
                if text:
                    answers.append((f"{tag}-{ans.get('answerid')}" if ans.get("answerid") else f"{sub_id}-A{a}", text))
            subs.append(SubQuestion(sub_id, _clean(sub.findtext("ANNOTATIONS/FOCUS")),
                                    _clean(sub.findtext("ANNOTATIONS/TYPE")).lower(), tuple(answers)))
        out.append(LiveQuestion(qid, _clean(q.findtext("SUBJECT")), _clean(q.findtext("MESSAGE")), tuple(subs),
                                path.name))
    return out


def read_folder(folder: str | Path) -> list[LiveQuestion]:
    """Every ``*.xml`` file of ``folder`` in name order."""
    folder = Path(folder)
    files = sorted(folder.glob("*.xml")) if folder.is_dir() else [folder]
    if not files:
        raise InputError("no LiveQA *.xml files here; pass the liveqa_train folder", path=str(folder))
    return [q for f in files for q in read_file(f)]
