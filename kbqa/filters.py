"""Metadata filters for search: year range, source/collection, MeSH term, publication type, retraction."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cache
from typing import Any

from kbqa.errors import KbqaError


@dataclass(frozen=True)
class Filters:
    year_min: int | None = None
    year_max: int | None = None
    source: str | None = None  # matches meta "source" or "collection", case-insensitive
    mesh: str | None = None  # a MeSH heading, case-insensitive exact match
    publication_type: str | None = None
    # None: as the knowledge base's ``search.exclude_retracted`` says (excluded when no setting applies)
    include_retracted: bool | None = None

    @classmethod
    def parse(cls, value: Filters | dict[str, Any] | None) -> Filters:
        if value is None:
            return cls()
        if isinstance(value, Filters):
            return value
        from kbqa.strict import validate

        return cls(**validate(_filters_model(), value, _explain).model_dump())

    @classmethod
    def from_cli(cls, items: list[str] | None) -> Filters:
        """``--filter year_min=2015 --filter source=pubmed`` -> Filters."""
        data: dict[str, Any] = {}
        for item in items or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise KbqaError(f"--filter expects KEY=VALUE, got {item!r}")
            key = key.strip().replace("-", "_")
            if key == "year" and "-" in value:  # --filter year=2010-2020
                lo, _, hi = value.partition("-")
                data["year_min"], data["year_max"] = lo or None, hi or None
            elif key == "include_retracted":
                data[key] = value.strip().lower() in ("1", "true", "yes")
            else:
                data[key] = value.strip()
        return cls.parse(data)

    @property
    def is_trivial(self) -> bool:
        return self == Filters(include_retracted=self.include_retracted)

    def with_retracted_default(self, include: bool) -> Filters:
        """These filters with ``include_retracted`` set to ``include`` unless the caller set it."""
        return self if self.include_retracted is not None else replace(self, include_retracted=include)

    def accepts(self, meta: dict[str, Any]) -> bool:
        if not self.include_retracted and meta.get("retracted"):
            return False
        year = meta.get("year")
        if self.year_min is not None or self.year_max is not None:
            if not isinstance(year, int):
                return False
            if self.year_min is not None and year < self.year_min:
                return False
            if self.year_max is not None and year > self.year_max:
                return False
        if self.source is not None:
            wanted = self.source.lower()
            if wanted not in (str(meta.get("source", "")).lower(), str(meta.get("collection", "")).lower()):
                return False
        if self.mesh is not None and self.mesh.lower() not in {str(m).lower() for m in meta.get("mesh") or []}:
            return False
        if self.publication_type is not None:
            types = {str(t).lower() for t in meta.get("publication_types") or []}
            if self.publication_type.lower() not in types:
                return False
        return True


def _explain(exc: Any) -> str:
    from kbqa.strict import describe, unknown_keys

    unknown = unknown_keys(exc)
    if unknown:
        return f"unknown filter(s) {unknown}; known: {sorted(f.name for f in fields(Filters))}"
    err = exc.errors()[0]
    if err["type"] == "model_type":
        return f"filters must be a dict, got {type(err['input']).__name__}"
    if err["type"] == "value_error":
        return str(err["ctx"]["error"])
    return f"filter {describe(err)}"


@cache
def _filters_model() -> Any:
    """The pydantic model behind ``Filters.parse``: unknown keys refused, None meaning "not set",
    years as ints, the text filters as strings, include_retracted as a real boolean."""
    from pydantic import field_validator

    from kbqa.strict import Strict

    class FiltersIn(Strict):
        year_min: int | None = None
        year_max: int | None = None
        source: str | None = None
        mesh: str | None = None
        publication_type: str | None = None
        include_retracted: bool | None = None

        @field_validator("year_min", "year_max", mode="before")
        @classmethod
        def _year(cls, v: Any, info: Any) -> int | None:
            if v is None:
                return None
            try:
                return int(v)
            except (TypeError, ValueError):
                raise ValueError(f"filter {info.field_name} must be a year, got {v!r}") from None

        @field_validator("source", "mesh", "publication_type", mode="before")
        @classmethod
        def _text(cls, v: Any) -> str | None:
            return None if v is None else str(v)

        @field_validator("include_retracted", mode="before")
        @classmethod
        def _flag(cls, v: Any) -> bool | None:
            if v is not None and not isinstance(v, bool):
                raise ValueError(f"filter include_retracted must be true or false, got {v!r}")
            return v

    return FiltersIn
