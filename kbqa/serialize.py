"""One JSON shape for every record, shared by the CLI, the Python API and the HTTP API."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kbqa.types import Answer, Chunk, Document, Evidence, Hit


def hit_to_dict(hit: Hit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "doc_id": hit.doc_id,
        "score": _num(hit.score),
        "text": hit.text,
        "title": hit.title,
        "metadata": hit.meta,
        "start": hit.start,
        "end": hit.end,
        "citation": citation(hit.meta, hit.doc_id, hit.title),
    }


def citation(meta: dict[str, Any], doc_id: str, title: str = "") -> str:
    """A short human-readable reference: 'Title. Journal 2019. PMID 123' or the URL."""
    parts = []
    if title:
        parts.append(title.rstrip("."))
    venue = " ".join(str(x) for x in (meta.get("journal"), meta.get("year")) if x)
    if venue:
        parts.append(venue)
    if meta.get("pmid"):
        parts.append(f"PMID {meta['pmid']}")
    elif meta.get("url"):
        parts.append(str(meta["url"]))
    else:
        parts.append(f"{meta.get('collection') or meta.get('source') or 'doc'} {doc_id}")
    if meta.get("retracted"):
        parts.append("RETRACTED")
    return ". ".join(parts)


def evidence_to_dict(ev: Evidence) -> dict[str, Any]:
    out = hit_to_dict(ev.hit)
    out.update(
        stance=ev.stance,
        probability=_num(ev.probability),
        probabilities={k: _num(v) for k, v in ev.probabilities.items()},
        highlight=list(ev.highlight) if ev.highlight else None,
    )
    return out


def answer_to_dict(ans: Answer) -> dict[str, Any]:
    return {
        "question": ans.question,
        "decision": ans.decision,
        "verdict": ans.verdict,
        "abstained": ans.abstained,
        "confidence": _num(ans.confidence),
        "probabilities": {k: _num(v) for k, v in ans.probabilities.items()},
        "evidence": [evidence_to_dict(e) for e in ans.evidence],
        "question_type": ans.question_type,
        "intent": ans.intent.to_dict() if ans.intent is not None else None,
        "answer_passages": [evidence_to_dict(e) for e in ans.answer_passages],
        "provenance": ans.provenance,
    }


def to_jsonable(obj: Any) -> Any:
    """Records (and lists of them) -> JSON-ready dicts."""
    if isinstance(obj, Hit):
        return hit_to_dict(obj)
    if isinstance(obj, Answer):
        return answer_to_dict(obj)
    if isinstance(obj, Evidence):
        return evidence_to_dict(obj)
    to_dict = getattr(obj, "to_dict", None)  # reports of other stages (e.g. kbqa.ddi InteractionReport)
    if callable(to_dict) and dataclasses.is_dataclass(obj):
        return to_jsonable(to_dict())
    if isinstance(obj, (Document, Chunk)):
        return dataclasses.asdict(obj)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, float):
        return _num(obj)
    return obj


def _num(x: float) -> float | None:
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None
