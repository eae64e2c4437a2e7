"""The one exception type users of kbqa need to catch."""

from __future__ import annotations


class KbqaError(ValueError):
    """Bad input or an incompatible artefact, with a message saying what and how to fix it.

    Subclasses ``ValueError`` so callers that validate generically still catch it.
    """


class InputError(KbqaError):
    """A malformed input record, reported with its file and line (or record)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


def missing_extra(package: str, extra: str) -> ImportError:
    """An ImportError naming the pip extra that provides ``package``."""
    return ImportError(
        f"kbqa needs the optional package {package!r} for this; install it with "
        f"`pip install 'kbqa[{extra}]'`"
    )
