"""The ``kbqa`` command: a thin layer over the Python API.

Each command group lives in its own module with a ``register(subparsers, train_subparsers)``
function; this module only assembles them and turns ``KbqaError`` into a clean exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from kbqa.errors import KbqaError

# Modules under kbqa.cli that add commands. Order is the order of ``kbqa --help``.
COMMAND_MODULES = ["corpus", "index", "search", "read", "eval", "ddi", "tune", "serve"]

DISCLAIMER = (
    "kbqa is decision support for professionals, not a diagnosis or medical advice: "
    "check the cited evidence."
)


def build_parser() -> argparse.ArgumentParser:
    from kbqa import __version__

    parser = argparse.ArgumentParser(
        prog="kbqa",
        description="Retrieval-augmented question answering over medical knowledge. " + DISCLAIMER,
    )
    parser.add_argument("--version", action="version", version=f"kbqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser("train", help="fine-tune a model (reader, ddi, embedder)")
    train_sub = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kbqa.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kbqa.cli.{name}":
                continue  # a command group not built yet
            raise
        module.register(sub, train_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KbqaError as exc:
        print(f"kbqa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kbqa: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
