"""`kbqa serve`: the HTTP API and the evidence page (FastAPI + uvicorn)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from typing import Any

from kbqa.errors import KbqaError


def register(sub: Any, train_sub: Any) -> None:
    p = sub.add_parser("serve", help="serve an index over HTTP: /search, /ask, /index, /reload and an evidence page")
    p.add_argument("--index", required=True, help="index folder (a newly committed version is picked up automatically)")
    p.add_argument(
        "--reader", default=None, help="reader folder for /ask (default: $KBQA_READER or models/reader when present)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", help="file holding the API key; every endpoint but /health then needs it")
    p.add_argument("--config", help="TOML config (search and device settings)")
    p.add_argument("--rate-limit", type=float, default=50.0, help="requests per second per client (0 = no limit)")
    p.add_argument("--rate-burst", type=int, default=100, help="requests a client may send at once")
    p.add_argument("--max-body-bytes", type=int, default=64 * 1024, help="larger request bodies get 413")
    p.add_argument(
        "--batch-max", type=int, default=32, help="most concurrent queries encoded together (1 = no batching)"
    )
    p.add_argument(
        "--watch-interval",
        type=float,
        default=2.0,
        help="seconds between checks for a new index version (0 = only POST /reload)",
    )
    p.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; CORS is off by default)",
    )
    p.add_argument("--public-docs", action="store_true", help="serve /docs and /openapi.json without the key")
    p.add_argument(
        "--log-queries",
        action="store_true",
        help="log question text, always de-identified (off by default: questions may contain patient details)",
    )
    p.add_argument(
        "--deidentify-queries",
        action="store_true",
        help="replace names, dates, IDs, phone numbers ... in queries by [NAME], [DATE], ... before retrieval, "
        "reading, logs and errors (see docs/deidentification.md)",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch intra-op threads per model (default 1: the encoder and the reader already run in "
        "parallel threads, and on a busy CPU more threads per model are many times slower; 0: torch's default)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - uvicorn is a dependency of the serve extra
        from kbqa.errors import missing_extra

        raise missing_extra("uvicorn", "serve") from exc
    from kbqa.server import ServerSettings, create_app, read_api_key

    settings = ServerSettings(
        host=args.host,
        port=args.port,
        api_key=read_api_key(args.api_key_file) if args.api_key_file else None,
        max_body_bytes=args.max_body_bytes,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        cors_origins=tuple(args.cors_origin),
        log_queries=args.log_queries,
        deidentify_queries=args.deidentify_queries,
        watch_interval=args.watch_interval,
        batch_max=args.batch_max,
        public_docs=args.public_docs,
    )
    if not _is_loopback(args.host) and settings.api_key is None:
        print(
            f"kbqa serve: warning: listening on {args.host} without --api-key-file: anyone who can reach "
            "this address can query the index",
            file=sys.stderr,
        )
    if args.torch_threads < 0:
        raise KbqaError(f"--torch-threads must be 0 (torch's default) or more, got {args.torch_threads}")
    if args.torch_threads > 0:
        import torch

        torch.set_num_threads(args.torch_threads)
    served = load_served(args.index, args.reader, args.config, settings)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(served, settings)
    print(
        f"kbqa serve: index {served.kb.index_dir} version {served.kb.version} ({len(served.kb)} chunks); "
        f"reader: {served.reader_name or 'none (/ask answers 503)'}; http://{_url_host(args.host)}:{args.port}/",
        file=sys.stderr,
    )
    # one process: the models and the index are loaded once and shared by all requests
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=True,
        server_header=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def load_served(index: str, reader_dir: str | None, config_path: str | None, settings: Any) -> Any:
    """The KnowledgeBase and (when one is found) the reader, loaded once for the server."""
    from kbqa.pipeline import KnowledgeBase
    from kbqa.read.reader import Reader, default_reader_dir
    from kbqa.server import ServedIndex

    config = None
    if config_path:
        from kbqa.config import load_config

        config = load_config(config_path)
    kb = KnowledgeBase.load(index, config)
    reader = None
    if reader_dir is not None:
        reader = Reader.load(reader_dir)
    elif (found := default_reader_dir()) is not None and found.is_dir():
        reader = Reader.load(found)
    return ServedIndex(kb, reader, batch_max=settings.batch_max, watch_interval=settings.watch_interval)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
