"""The VectorIndex protocol (kbqa.index.protocol, re-exported here); kbqa/index/factory.py picks a backend by name.

Backends keep the string id of every vector next to it: callers never see row positions.
"""

from __future__ import annotations

from kbqa.index.protocol import SearchResult, VectorIndex, check_vectors

__all__ = ["SearchResult", "VectorIndex", "check_vectors"]
