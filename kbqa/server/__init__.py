"""HTTP API over the Python API: ``kbqa serve --index DIR`` or ``create_app(ServedIndex(kb, reader))``.

Importing this package imports FastAPI; ``import kbqa`` never imports it.
"""

from __future__ import annotations

from kbqa.server.app import create_app, public_message
from kbqa.server.settings import ASK_K_MAX, SEARCH_K_MAX, ServerSettings, read_api_key
from kbqa.server.state import SearchBatcher, ServedIndex

__all__ = [
    "ASK_K_MAX",
    "SEARCH_K_MAX",
    "SearchBatcher",
    "ServedIndex",
    "ServerSettings",
    "create_app",
    "public_message",
    "read_api_key",
]
