"""PubMedQA ``ori_pqal.json``: one abstract (contexts + conclusion) per PMID, without the question.

The question is derived from the article title, so neither the title, the question nor the
``final_decision`` label go into the document: an index built from it must not leak answers.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kbqa.corpus.base import IdRegistry, LoadStats, decode_text, read_bytes
from kbqa.errors import InputError
from kbqa.types import Document

SUFFIXES = (".json", ".json.gz")


def _line_of(text: str, key: str, nth: int = 1) -> int | None:
    """The line of the ``nth`` ``"key":`` in the file, so errors point into it (computed on error only)."""
    matches = re.finditer(r'"' + re.escape(key) + r'"\s*:', text)
    for count, match in enumerate(matches, start=1):
        if count == nth:
            return text.count("\n", 0, match.start()) + 1
    return None


def _unique_keys(path: Path, text: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json object hook: a repeated key (e.g. a PMID twice) is an error, not silently dropped."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"key {key!r} occurs twice in one object; keep one record per PMID",
                             path=str(path), line=_line_of(text, key, nth=2))
        out[key] = value
    return out


def _str_list(record: dict[str, Any], key: str, *, fail: Any) -> list[str]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"{key} must be a list of strings")
    return value


def document_text(contexts: list[str], labels: list[str], conclusion: str) -> str:
    """The indexed text of one abstract: "SECTION: context" paragraphs in order, then the conclusion."""
    paragraphs = [
        f"{label}: {ctx.strip()}" if label else ctx.strip()
        for label, ctx in zip(labels or [""] * len(contexts), contexts, strict=True)
        if ctx.strip()
    ]
    if conclusion.strip():
        paragraphs.append(conclusion.strip())
    return "\n\n".join(paragraphs)


def iter_file(
    path: Path, *, stats: LoadStats, ids: IdRegistry, columns: Mapping[str, str] | None = None
) -> Iterator[Document]:
    """Documents of one PubMedQA JSON file (``{PMID: {CONTEXTS, LABELS, LONG_ANSWER, ...}}``)."""
    if columns:
        raise InputError("column mappings apply to jsonl/csv/tsv only, not to pubmedqa", path=str(path))
    text = decode_text(read_bytes(path), path)
    try:
        data = json.loads(text, object_pairs_hook=functools.partial(_unique_keys, path, text))
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=str(path),
                         line=exc.lineno) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object {PMID: record} (PubMedQA ori_pqal.json format)",
                         path=str(path), line=1)
    for pmid, record in data.items():

        def fail(message: str, pmid: str = pmid) -> InputError:
            return InputError(f"PMID {pmid}: {message}; expected the PubMedQA ori_pqal.json layout",
                              path=str(path), line=_line_of(text, pmid))

        if not isinstance(record, dict):
            raise fail(f"record must be an object, got {type(record).__name__}")
        if "CONTEXTS" not in record:
            raise fail("missing CONTEXTS")
        contexts = _str_list(record, "CONTEXTS", fail=fail)
        labels = _str_list(record, "LABELS", fail=fail)
        if labels and len(labels) != len(contexts):
            raise fail(f"{len(labels)} LABELS for {len(contexts)} CONTEXTS")
        conclusion = record.get("LONG_ANSWER", "")
        if not isinstance(conclusion, str):
            raise fail("LONG_ANSWER must be a string")
        body = document_text(contexts, labels, conclusion)
        ids.add(pmid, path, None)
        if not body:
            stats.skipped_empty += 1
            continue
        meta: dict[str, Any] = {"source": "pubmedqa", "pmid": pmid,
                                "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"}
        year = str(record.get("YEAR") or "").strip()
        if year:
            if not year.isdigit():
                raise fail(f"YEAR must be a 4-digit year, got {year!r}")
            meta["year"] = int(year)
        meta["mesh"] = _str_list(record, "MESHES", fail=fail)
        yield Document(doc_id=pmid, text=body, title="", meta=meta)
