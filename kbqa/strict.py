"""Strict parsing of user tables (config sections, corpus recipes, search filters) through pydantic.

Each table is a pydantic model with ``extra="forbid"``; :func:`validate` runs it and hands any
:class:`pydantic.ValidationError` to the caller's formatter, which turns pydantic's errors into the
messages kbqa has always given (``unknown key(s) [...]; known: [...]`` and the like). Helpers here
read those errors: :func:`unknown_keys` (the ``extra_forbidden`` ones under one table) and
:func:`describe` (one error as ``where: message``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from kbqa.errors import KbqaError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A table that refuses keys it does not know."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validate(model: type[M], data: Any, explain: Callable[[ValidationError], str]) -> M:
    """``model`` validated from ``data``; a failure raises KbqaError(``explain(error)``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise KbqaError(explain(exc)) from None


def unknown_keys(exc: ValidationError, at: tuple[Any, ...] = ()) -> list[str]:
    """The unknown keys pydantic found directly under the table at location ``at``, sorted."""
    return sorted(str(e["loc"][-1]) for e in exc.errors() if e["type"] == "extra_forbidden" and e["loc"][:-1] == at)


def known_keys(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``a.b: message``."""
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
