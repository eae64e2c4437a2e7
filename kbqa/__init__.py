"""kbqa: retrieval-augmented question answering over medical knowledge.

``import kbqa`` is light: torch, faiss and transformers are imported only when a model or an
index is actually used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kbqa.errors import KbqaError
from kbqa.types import Answer, Chunk, Document, Evidence, Hit
from kbqa.version import __version__

__all__ = ["Answer", "Chunk", "Document", "Evidence", "Hit", "KbqaError", "KnowledgeBase", "__version__"]

if TYPE_CHECKING:
    from kbqa.pipeline import KnowledgeBase


def __getattr__(name: str) -> Any:
    if name == "KnowledgeBase":
        from kbqa.pipeline import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'kbqa' has no attribute {name!r}")
