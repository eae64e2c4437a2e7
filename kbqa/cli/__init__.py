"""The ``kbqa`` command: a thin layer over the Python API.

Each command group lives in its own module with a ``register(subparsers, train_subparsers)``
function; this module only assembles them and turns ``KbqaError`` into a clean exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from kbqa.disclaimer import DISCLAIMER
from kbqa.errors import KbqaError

# Modules under kbqa.cli that add commands, with the top-level commands each adds (``train``
# subcommands aside). Order is the order of ``kbqa --help``. A command line registers only the module
# of its command: `kbqa search` must not import the reader or the trainers for their argument defaults.
COMMAND_MODULES = {
    "corpus": ("corpus",),
    "index": ("index",),
    "search": ("search",),
    "read": ("ask", "read"),
    "eval": ("eval",),
    "ddi": ("interactions",),
    "classify": ("classify",),
    "diagnose": ("diagnose",),
    "treat": ("treat",),
    "tune": (),
    "serve": ("serve",),
    "deid": ("deid",),
}
VERBOSE_HELP = "show model-loading progress bars and library warnings"
MODELS_DIR_HELP = ("folder holding the committed models (reader/, embedder/, reranker/, ddi/); default: "
                   "$KBQA_HOME/models, else the checkout's models/ ($KBQA_READER etc. still win)")
QUICK_COMMANDS = ("search", "ask", "diagnose", "treat")  # one query from the shell: torch threads sized to the idle cores


def _command(argv: list[str] | None) -> str | None:
    """The command word of ``argv`` (the first argument not starting with "-"), if any."""
    return next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming a command, only that command's module is registered."""
    from kbqa.version import __version__

    parser = argparse.ArgumentParser(
        prog="kbqa",
        description="Retrieval-augmented question answering over medical knowledge. " + DISCLAIMER,
    )
    parser.add_argument("--version", action="version", version=f"kbqa {__version__}")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--models-dir", metavar="DIR", default=None, help=MODELS_DIR_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = sub.add_parser("train", help="fine-tune a model (reader, ddi, embedder, classifier)")
    train_sub = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    wanted = _command(argv)
    known = {c for commands in COMMAND_MODULES.values() for c in commands}
    for name, commands in COMMAND_MODULES.items():
        if wanted in known and wanted not in commands:
            continue
        try:
            module = importlib.import_module(f"kbqa.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kbqa.cli.{name}":
                continue  # a command group not built yet
            raise
        module.register(sub, train_sub)
    _add_verbose(parser)
    return parser


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` and ``--models-dir`` after any (sub)command too: ``kbqa search --verbose ...``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "--verbose" not in child._option_string_actions:
                    child.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
                if "--models-dir" not in child._option_string_actions:
                    child.add_argument("--models-dir", metavar="DIR", default=argparse.SUPPRESS, help=MODELS_DIR_HELP)
                _add_verbose(child)


def quiet_libraries() -> None:
    """No model-loading progress bars or library chatter on stderr (``--verbose`` keeps them).

    Environment variables, read when those libraries are imported, so nothing is imported here."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:  # already imported (kbqa.cli.main called in-process)
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def threads_for_idle_cores(loadavg: str = "/proc/loadavg") -> int:
    """The cores that other processes are not running on right now, at least one.

    Counted from the runnable tasks in /proc/loadavg (an instant count, unlike the load averages,
    which still hold the last few commands' own work)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open(loadavg, encoding="ascii") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):  # not Linux: use every core, as torch does
        return cores
    return max(1, cores - max(0, running - 1))  # this process is one of the runnable tasks


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from_shell = argv is None
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if from_shell and args.command in QUICK_COMMANDS and "OMP_NUM_THREADS" not in os.environ:
        # a query's few small matmuls: torch's threads on cores that other jobs keep busy wait on
        # each other (2 cores at load 3: `kbqa ask` 4.2 s with 2 threads, 2.0 s with 1;
        # benchmarks/cold_start.py). Set before torch is imported; OMP_NUM_THREADS overrides.
        os.environ["OMP_NUM_THREADS"] = str(threads_for_idle_cores())
    if not getattr(args, "verbose", False):
        quiet_libraries()
    if from_shell:  # kbqa's own warnings (e.g. no tuned embedder found) as one line, not a source excerpt
        warnings.showwarning = lambda message, *_, **__: print(f"kbqa: warning: {message}", file=sys.stderr)
    if getattr(args, "models_dir", None):
        from kbqa.paths import use_models_dir

        use_models_dir(args.models_dir)
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
