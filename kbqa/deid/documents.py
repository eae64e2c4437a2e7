"""De-identify whole records: a Document's text, title and metadata; a field given its name as context."""

from __future__ import annotations

import dataclasses
import re
import warnings
from typing import Any

from kbqa.deid.engine import Deidentifier
from kbqa.types import Document


# fields whose whole value is PHI of one category, by (normalised) name: "patient_name", "Surname", "city"
_WHOLE_FIELD = [
    (re.compile(r"^(?:.*[_ ])?(?:(?:first|last|given|family|middle|full|sur|fore|maiden|nick|patient|pt)[_ ]?)?name$|"
                r"^(?:surname|forename|given_names?|next_of_kin|nok|guardian|caregiver|emergency_contact)$"), "NAME"),
    (re.compile(r"^(?:.*[_ ])?(?:street|address|addr|address_?line_?\d?|city|town|county|municipality)$"), "ADDRESS"),
    (re.compile(r"^(?:.*[_ ])?(?:zip|zip_?code|postal_?code|postcode)$"), "ZIP"),
    (re.compile(r"^(?:.*[_ ])?(?:e_?mail|email_address)$"), "EMAIL"),
    (re.compile(r"^(?:.*[_ ])?(?:phone|fax|telephone|tel|mobile|cell|phone_?number)$"), "PHONE"),
    (re.compile(r"^(?:.*[_ ])?(?:mrn|ssn|medical_record_number|record_number|account_number|insurance_id|member_id)$"), "ID"),
    (re.compile(r"^(?:.*[_ ])?(?:dob|date_of_birth|birth_?date|birthday|date_of_death|dod)$"), "DATE"),
]


def _whole_field(key: str) -> str | None:
    norm = re.sub(r"[\s\-]+", "_", key.strip().lower())
    return next((cat for rx, cat in _WHOLE_FIELD if rx.match(norm)), None)


def field_value(deid: Deidentifier, key: str, value: Any) -> Any:
    """``value`` of the field ``key`` de-identified, the key read as context ("age: 92", "mrn: 1234567").

    Strings come back de-identified; a number that holds PHI comes back as its placeholder string; other
    numbers, booleans and None unchanged; lists and dicts element by element."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return {k: field_value(deid, str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [field_value(deid, key, v) for v in value]
    text = value if isinstance(value, str) else str(value)
    if not text.strip():
        return value
    whole = _whole_field(key)
    if whole is not None:  # a name, address, ZIP, ... column: the value is PHI whatever it looks like
        from kbqa.deid.engine import placeholder

        deid.counts[whole] += 1
        return placeholder(whole)
    prefix = f"{key.replace('_', ' ')}: "
    red = deid.redact(prefix + text)
    if red.spans and all(s.start >= len(prefix) for s in red.spans):
        new = red.text[len(prefix):]
    else:  # nothing found, or the key itself matched: the value alone
        new = deid(text) if red.spans else text
    if new == text:
        return value
    return new


class DocumentDeidentifier:
    """The transform ``kbqa index build/update --deidentify`` applies to every document before it is
    chunked, embedded or written: text, title and every metadata value are de-identified. Document
    ids are kept (updates match on them): an id that looks like PHI gets a warning, never printed."""

    def __init__(self, deid: Deidentifier | None = None) -> None:
        from kbqa.deid.engine import default_deidentifier

        self.deid = deid or default_deidentifier()
        self.documents = 0
        self.ids_flagged = 0

    def __call__(self, doc: Document) -> Document:
        self.documents += 1
        if self.deid.find(f"id: {doc.doc_id}"):
            self.ids_flagged += 1
            if self.ids_flagged == 1:
                warnings.warn(
                    "a document id looks like PHI (a record number, name or date); ids are stored as given: "
                    "map a surrogate id column with --column id=COLUMN", stacklevel=2,
                )
        return dataclasses.replace(
            doc,
            text=self.deid(doc.text),
            title=self.deid(doc.title) if doc.title else doc.title,
            meta={k: field_value(self.deid, k, v) for k, v in doc.meta.items()},
        )

    def describe(self) -> dict[str, Any]:
        return {**self.deid.describe(), "fields": ["text", "title", "meta"], "ids_flagged": self.ids_flagged}
