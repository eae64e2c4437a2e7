"""Case files for ``kbqa diagnose --input`` and ``kbqa eval diagnose``: JSONL, CSV, TSV or Parquet, read by
:mod:`kbqa.classify.data` (the one table reader ``kbqa classify`` uses), so ids, formats and errors are the
same: the id column when named, else ``id`` when present, else the 1-based data row number; errors name the
file and the line (JSONL, CSV/TSV with the header on line 1) or data row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    label: str | None
    row: dict[str, Any]  # every column of the row


def read_cases(path: str | Path, text_column: str = "text", id_column: str | None = None,
               label_column: str | None = None) -> list[Case]:
    """The rows of a case file; an unknown column, an empty text or label, or a duplicate id is an error."""
    from kbqa.classify import data

    table = data.read_table(path)
    texts = data.texts(table, [text_column])
    ids, _ = data.row_ids(table, id_column)
    gold = data.labels(table, label_column) if label_column is not None else [None] * len(texts)
    rows = table.frame.to_dict("records")
    return [Case(i, text, label, row) for i, text, label, row in zip(ids, texts, gold, rows)]
