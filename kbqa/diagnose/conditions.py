"""Which condition each document of a knowledge base is about: its metadata field ``condition`` (any
loader can set it), MedQuAD's ``focus``, or another field the caller names.

Names are grouped case- and space-insensitively ("High Blood Pressure" and "high blood pressure" are
one condition); the name shown is the first spelling met in document order.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kbqa.errors import KbqaError

DEFAULT_FIELDS = ("condition", "focus")


def condition_key(name: str) -> str:
    """The grouping key of a condition name: lower case, runs of spaces collapsed."""
    return " ".join(str(name).lower().split())


def word_match(name: str, text: str) -> bool:
    """``name`` occurs in ``text`` as whole words, case-insensitively ("flu" in "avian flu", not in "influenza")."""
    key = condition_key(name)
    if not key:
        return False
    return re.search(r"(?<!\w)" + re.escape(key) + r"(?!\w)", condition_key(text)) is not None


def condition_of(meta: Mapping[str, Any], field: str | None = None) -> str | None:
    """The condition a document's metadata names (``field``, else ``condition`` then ``focus``), or None."""
    for name in (field,) if field else DEFAULT_FIELDS:
        value = meta.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


@dataclass(frozen=True)
class ConditionTable:
    """Every condition of one knowledge base: key -> shown name, and key -> its document ids."""

    field: str | None
    names: dict[str, str]
    documents: dict[str, list[str]]

    @classmethod
    def from_documents(cls, rows: Iterable[tuple[str, Mapping[str, Any]]], field: str | None = None) -> ConditionTable:
        names: dict[str, str] = {}
        documents: dict[str, list[str]] = {}
        for doc_id, meta in rows:
            name = condition_of(meta, field)
            if name is None:
                continue
            key = condition_key(name)
            names.setdefault(key, name)
            documents.setdefault(key, []).append(doc_id)
        return cls(field, names, documents)

    def __len__(self) -> int:
        return len(self.names)

    def matching(self, label: str) -> list[str]:
        """Keys of the conditions whose name holds ``label`` as whole words (the exact name first)."""
        key = condition_key(label)
        found = [k for k in self.names if k == key or word_match(key, k)]
        return sorted(found, key=lambda k: (k != key, len(k), k))


_TABLES: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], ConditionTable]] = weakref.WeakKeyDictionary()


def condition_table(kb: Any, field: str | None = None) -> ConditionTable:
    """The conditions of ``kb``'s served version (computed once per knowledge base, version and field).

    Raises a KbqaError when no document names a condition, saying how to name the field."""
    per_kb = _TABLES.setdefault(kb, {})
    cache_key = (str(getattr(kb, "version", "")), field)
    if cache_key not in per_kb:
        rows = ((doc_id, row.get("meta") or {}) for doc_id, row in kb.documents.items())
        table = ConditionTable.from_documents(rows, field)
        if not table.names:
            where = f"metadata field {field!r}" if field else "metadata field 'condition' or MedQuAD's 'focus'"
            raise KbqaError(
                f"no document of the index at {getattr(kb, 'index_dir', '?')} names a condition ({where}); "
                "index documents that carry one (e.g. a JSONL key \"condition\") or name the field with "
                "--condition-field"
            )
        per_kb[cache_key] = table
    return per_kb[cache_key]
