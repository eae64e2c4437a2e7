"""Generic JSONL documents: one ``{"id", "title"?, "text", ...}`` object per line (BEIR ``_id`` too)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from kbqa.corpus.base import IdRegistry, LoadStats, decode_line, id_string, open_binary
from kbqa.errors import InputError
from kbqa.types import Document

SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


def iter_file(
    path: Path, *, stats: LoadStats, ids: IdRegistry, columns: Mapping[str, str] | None = None
) -> Iterator[Document]:
    """Documents of one JSONL file; extra keys go to ``meta`` (``meta["source"]`` defaults to "jsonl")."""
    cols = dict(columns or {})
    id_key, text_key, title_key = cols.get("id"), cols.get("text", "text"), cols.get("title", "title")
    where = str(path)
    with open_binary(path) as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = decode_line(raw, path, line_no)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"malformed JSON ({exc.msg} at column {exc.colno}); each line must be one "
                    "complete JSON object",
                    path=where,
                    line=line_no,
                ) from None
            if not isinstance(record, dict):
                raise InputError(f"expected a JSON object per line, got {type(record).__name__}",
                                 path=where, line=line_no)
            key = id_key or ("id" if "id" in record else "_id")
            if key not in record:
                raise InputError(
                    f"missing id: expected an {key!r} key" + ("" if id_key else " (or BEIR-style '_id')")
                    + f"; keys present: {sorted(record)}",
                    path=where,
                    line=line_no,
                )
            doc_id = id_string(record.pop(key), path=path, line=line_no, field_name=key)
            if text_key not in record:
                raise InputError(f"missing {text_key!r}: every record needs the document text; "
                                 f"keys present: {sorted(record)}", path=where, line=line_no)
            text = record.pop(text_key)
            if not isinstance(text, str):
                raise InputError(f"{text_key!r} must be a string, got {type(text).__name__}",
                                 path=where, line=line_no)
            title = record.pop(title_key, None)
            if title is None:
                title = ""
            elif not isinstance(title, str):
                raise InputError(f"{title_key!r} must be a string, got {type(title).__name__}",
                                 path=where, line=line_no)
            ids.add(doc_id, path, line_no)
            if not text.strip():
                if not title.strip():
                    stats.skipped_empty += 1
                    continue
                text = title  # a title-only record (common in BEIR corpora) is indexed by its title
            meta = {"source": "jsonl", **record}
            yield Document(doc_id=doc_id, text=text, title=title, meta=meta)
