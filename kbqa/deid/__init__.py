"""De-identification of case text: HIPAA Safe Harbor categories replaced by typed placeholders.

``deidentify(texts)`` returns de-identified copies; ``Deidentifier().redact(text)`` also says where each
placeholder went (``PhiSpan``: original and new offsets, category). Presidio is imported on first use,
so importing this package costs nothing.
"""

from __future__ import annotations

from kbqa.deid.engine import (
    CATEGORIES,
    Deidentifier,
    PhiSpan,
    Redaction,
    default_deidentifier,
    deidentify,
    placeholder,
)

__all__ = ["CATEGORIES", "Deidentifier", "PhiSpan", "Redaction", "default_deidentifier", "deidentify", "placeholder"]
