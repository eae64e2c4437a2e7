"""``kbqa corpus list|fetch|stats``: the corpus recipes and loaders from the command line."""

from __future__ import annotations

import argparse
import time
from typing import Any

from kbqa.errors import KbqaError


def register(sub: Any, train_sub: Any) -> None:
    """Add the ``corpus`` command group."""
    corpus = sub.add_parser("corpus", help="list, fetch and inspect corpora")
    commands = corpus.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)

    listing = commands.add_parser("list", help="print the corpus recipes in corpora/")
    listing.set_defaults(func=_list)

    fetch = commands.add_parser("fetch", help="verify a recipe's files in a mirror, or download them")
    fetch.add_argument("name", help="recipe name (see `kbqa corpus list`)")
    fetch.add_argument("--mirror", help="local mirror root (default: $KBQA_MIRROR, else ../shared/data)")
    fetch.add_argument("--dest", help="download folder (default: $KBQA_CACHE/datasets/NAME)")
    fetch.set_defaults(func=_fetch)

    stats = commands.add_parser("stats", help="load a corpus and print document counts and timing")
    stats.add_argument("source", help="a file, a folder or a recipe name")
    stats.add_argument("--format", help="loader format (default: from the recipe, extension or content)")
    stats.add_argument("--column", action="append", default=[], metavar="ROLE=NAME",
                       help="map id/text/title to another column or key (jsonl, csv, tsv); repeatable")
    stats.add_argument("--mirror", help="local mirror root for recipe names")
    stats.set_defaults(func=_stats)


def parse_columns(pairs: list[str]) -> dict[str, str] | None:
    """``["text=abstract", "id=case_id"]`` -> ``{"text": "abstract", "id": "case_id"}``."""
    columns = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or not role or not name:
            raise KbqaError(f"--column expects ROLE=NAME (e.g. text=abstract), got {pair!r}")
        columns[role.strip()] = name.strip()
    return columns or None


def _list(args: argparse.Namespace) -> int:
    from kbqa.corpus import list_recipes

    for recipe in list_recipes().values():
        how = "download or mirror" if recipe.download else "mirror only"
        print(f"{recipe.name:<12} {recipe.format:<12} {recipe.licence:<30} {how}")
        print(f"{'':<12} {recipe.description}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from kbqa.corpus import fetch

    started = time.perf_counter()
    folder = fetch(args.name, mirror=args.mirror, dest=args.dest)
    print(f"{args.name}: verified {folder} ({time.perf_counter() - started:.2f} s)")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from kbqa.corpus import LoadStats, iter_documents

    stats = LoadStats()
    started = time.perf_counter()
    chars = 0
    for doc in iter_documents(args.source, args.format, stats=stats, mirror=args.mirror,
                              columns=parse_columns(args.column)):
        chars += len(doc.text)
    seconds = time.perf_counter() - started
    print(f"files {stats.files}  documents {stats.documents}  characters {chars}")
    print(f"skipped: empty {stats.skipped_empty}, unanswered {stats.skipped_unanswered}; "
          f"retracted {stats.retracted}; deletions {len(stats.deleted)}")
    print(f"loaded in {seconds:.2f} s")
    return 0
