"""CSV/TSV documents via pandas, with a column mapping such as ``{"id": "case_id", "text": "abstract"}``."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path

from kbqa.corpus.base import IdRegistry, LoadStats, clean_meta, decode_text, read_bytes
from kbqa.errors import InputError
from kbqa.types import Document

SUFFIXES = {"csv": (".csv", ".csv.gz"), "tsv": (".tsv", ".tsv.gz", ".tab")}
ROLES = ("id", "text", "title")


def iter_file(
    path: Path,
    *,
    stats: LoadStats,
    ids: IdRegistry,
    columns: Mapping[str, str] | None = None,
    sep: str = ",",
) -> Iterator[Document]:
    """Documents of one table; unmapped columns go to ``meta`` (empty cells are omitted).

    Line numbers in errors assume one row per line (header = line 1), which holds unless a
    quoted cell spans lines.
    """
    import pandas as pd

    cols = {role: role for role in ROLES} | dict(columns or {})
    unknown = sorted(set(cols) - set(ROLES))
    if unknown:
        raise InputError(f"unknown column role(s) {unknown}; map only {list(ROLES)}", path=str(path))
    text = decode_text(read_bytes(path), path)
    mapped = {cols["id"], cols["text"], cols["title"]}
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype={name: str for name in mapped},  # ids and text verbatim: "007" stays "007"
            skip_blank_lines=False,  # keep row -> line numbers exact; blank rows dropped below
            dtype_backend="numpy_nullable",  # an int column with gaps stays int (2021, not 2021.0)
        )
    except pd.errors.EmptyDataError:
        raise InputError("empty file: expected a header row and data rows", path=str(path)) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot parse as {'TSV' if sep == chr(9) else 'CSV'}: {exc}",
                         path=str(path)) from None
    present = [str(c) for c in frame.columns]
    for role in ("id", "text"):
        if cols[role] not in present:
            hint = "" if columns and role in columns else f" (map it with columns={{'{role}': NAME}})"
            raise InputError(f"no {role} column {cols[role]!r}{hint}; columns present: {present}",
                             path=str(path))
    has_title = cols["title"] in present
    if not has_title and columns and "title" in columns:
        raise InputError(f"no title column {cols['title']!r}; columns present: {present}", path=str(path))
    for offset, row in enumerate(frame.to_dict("records")):
        line = offset + 2  # header is line 1
        if all(pd.isna(v) for v in row.values()):
            continue
        raw_id = row.pop(cols["id"])
        if pd.isna(raw_id) or not str(raw_id).strip():
            raise InputError(f"empty id in column {cols['id']!r}; every row needs an id",
                             path=str(path), line=line)
        doc_id = str(raw_id)
        body = row.pop(cols["text"])
        title = row.pop(cols["title"]) if has_title else None
        ids.add(doc_id, path, line)
        if pd.isna(body) or not str(body).strip():
            stats.skipped_empty += 1
            continue
        meta = {"source": "csv" if sep == "," else "tsv", **clean_meta(row)}
        yield Document(doc_id=doc_id, text=str(body), title="" if pd.isna(title) else str(title), meta=meta)
