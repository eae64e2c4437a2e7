"""Server settings: one frozen record, validated once, plus the API key file reader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import KbqaError

# Hard maxima: a request above them is refused (422); k above the index size is clamped instead.
SEARCH_K_MAX = 100
ASK_K_MAX = 50  # the reader reads every passage: keep one request's cost bounded
DIAGNOSE_K_MAX = 50  # conditions listed by /diagnose
TREAT_K_MAX = 30  # options listed by /treat


@dataclass(frozen=True)
class ServerSettings:
    """How ``create_app`` serves an index. Defaults are the safe ones: loopback, no CORS, no query logs."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # when set, every endpoint but /health (and the static page) needs it
    max_body_bytes: int = 64 * 1024
    rate_limit: float = 50.0  # requests per second per client address; 0 switches the limit off
    rate_burst: int = 100  # requests a client may send at once before the rate applies
    cors_origins: tuple[str, ...] = ()  # empty: no CORS headers at all
    log_queries: bool = False  # questions may contain patient details: off unless asked for; always de-identified
    deidentify_queries: bool = False  # replace PHI in queries (kbqa.deid) before retrieval, reading, logs and errors
    watch_interval: float = 2.0  # seconds between checks of DIR/CURRENT; 0 disables automatic reload
    batch_max: int = 32  # most concurrent search queries encoded together; 1 disables batching
    public_docs: bool = False  # serve /docs and /openapi.json without the key (they hold no data)

    def __post_init__(self) -> None:
        if self.api_key is not None and not self.api_key:
            raise KbqaError("the API key is empty; put a long random string in the key file")
        if self.max_body_bytes < 1024:
            raise KbqaError(f"max_body_bytes must be at least 1024, got {self.max_body_bytes}")
        if self.rate_limit < 0 or self.rate_burst < 1:
            raise KbqaError("rate_limit must be >= 0 (0 = off) and rate_burst >= 1")
        if self.batch_max < 1:
            raise KbqaError(f"batch_max must be >= 1, got {self.batch_max}")
        if self.watch_interval < 0:
            raise KbqaError(f"watch_interval must be >= 0 seconds, got {self.watch_interval}")
        if not 0 <= self.port <= 65535:
            raise KbqaError(f"port must be in 0..65535, got {self.port}")


def read_api_key(path: str | Path) -> str:
    """The key in ``path``: its first non-blank line, stripped. Short or missing keys are refused."""
    p = Path(path)
    try:
        lines = [line.strip() for line in p.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise KbqaError(f"API key file not found: {p}") from None
    except UnicodeDecodeError:
        raise KbqaError(f"API key file {p} is not UTF-8 text") from None
    key = next((line for line in lines if line), "")
    if len(key) < 16:
        raise KbqaError(
            f"the API key in {p} is {'empty' if not key else 'shorter than 16 characters'}; "
            "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE`"
        )
    return key
