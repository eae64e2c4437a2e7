"""`kbqa search`: cited passages for a query, or JSON lines for a batch of queries."""

from __future__ import annotations

import argparse
from typing import Any

from kbqa.cli.common import add_rerank_args, apply_rerank_args, dump, open_out, read_jsonl_input, shorten
from kbqa.errors import KbqaError


def register(sub: Any, train_sub: Any) -> None:
    p = sub.add_parser("search", help="retrieve cited passages for a query")
    p.add_argument("query", nargs="?", help="the query (omit with --input)")
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("-k", type=int, default=10, help="number of passages (clamped to the index size)")
    p.add_argument("--filter", action="append", metavar="KEY=VALUE",
                   help="year_min=, year_max=, year=2010-2020, source=, mesh=, publication_type=, include_retracted=true")
    p.add_argument("--json", action="store_true", help="print a JSON list of hits")
    p.add_argument("--input", help="JSON lines file of {\"id\", \"query\"}: writes one JSON line per query")
    p.add_argument("--out", help="with --input: output file (default stdout)")
    p.add_argument("--config", help="TOML config (search/device settings)")
    p.add_argument("--nprobe", type=int, help="IVF kinds: inverted lists scanned per query (more: better recall, slower)")
    p.add_argument("--ef-search", type=int, help="HNSW: search beam width (more: better recall, slower)")
    p.add_argument("--refine", type=int, help="compressed kinds: re-score REFINE*k candidates against stored vectors")
    add_rerank_args(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from kbqa.filters import Filters
    from kbqa.pipeline import KnowledgeBase

    if bool(args.query) == bool(args.input):
        raise KbqaError("give either a query or --input FILE")
    if args.k < 1:
        raise KbqaError(f"-k must be at least 1, got {args.k}")
    filters = Filters.from_cli(args.filter) if args.filter else None
    config = None
    if args.config:
        from kbqa.config import load_config

        config = load_config(args.config)
    kb = apply_rerank_args(KnowledgeBase.load(args.index, config, query_time=query_time(args)), args)
    if args.input:
        rows = list(read_jsonl_input(args.input, ("id", "query")))
        hits = kb.search_many([str(r["query"]) for _, r in rows], args.k, filters)
        with open_out(args.out) as out:
            for (_, row), row_hits in zip(rows, hits):
                dump({"id": str(row["id"]), "query": row["query"], "hits": row_hits}, out, line=True)
        return 0
    hits = kb.search(args.query, args.k, filters)
    if args.json:
        dump(hits)
        return 0
    if not hits:
        print("no passages matched (check --filter)")
    for rank, hit in enumerate(hits, start=1):
        from kbqa.serialize import citation

        print(f"[{rank}] {hit.score:.3f}  {citation(hit.meta, hit.doc_id, hit.title)}")
        print(f"    {shorten(hit.text)}")
    return 0


def query_time(args: argparse.Namespace) -> dict[str, int]:
    """--nprobe / --ef-search / --refine as index settings (applied over the index's own at load)."""
    over = {k: getattr(args, k) for k in ("nprobe", "ef_search", "refine") if getattr(args, k, None) is not None}
    if any(v < 1 for v in over.values()):
        raise KbqaError("--nprobe, --ef-search and --refine must be at least 1")
    return over
