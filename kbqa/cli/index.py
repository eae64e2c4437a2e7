"""`kbqa index build|info`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kbqa.cli.common import deidentifier_arg, load_config_arg, parse_columns
from kbqa.errors import KbqaError


def register(sub: Any, train_sub: Any) -> None:
    index = sub.add_parser("index", help="build and inspect index folders")
    isub = index.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    build = isub.add_parser(
        "build", help="index documents from files, folders or recipe names",
        description="Index documents from files, folders or recipe names. A local build streams in blocks and "
        "checkpoints after each: if it is interrupted, run the same command again to resume it.",
    )
    build.add_argument("sources", nargs="+", metavar="SOURCE", help="a file, a folder or a corpus recipe name")
    build.add_argument("--index", required=True, help="index folder to create")
    build.add_argument("--format", help="input format (jsonl, csv, tsv, pubmedqa, medquad, pubmed, ddi2013); inferred by default")
    build.add_argument("--config", help="TOML config file overriding the preset")
    build.add_argument("--preset", default="default", help="named settings: default, fast (bf16 embedding), exact")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index (only once the new one is complete)")
    build.add_argument("--mirror", help="local folder with corpus files (default: $KBQA_MIRROR or ../shared/data)")
    build.add_argument("--column", action="append", default=[], metavar="FIELD=COLUMN",
                       help="CSV/TSV/JSONL field mapping, e.g. --column id=case_id --column text=abstract")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.add_argument("--deidentify", action="store_true",
                       help="replace names, dates, ages over 89, phone numbers, emails, IDs, addresses, ZIP codes, URLs "
                            "and IPs in every document (text, title, metadata) by typed placeholders before anything "
                            "is written (see docs/deidentification.md)")
    build.add_argument("--factory", metavar="KIND",
                       help="index kind: flat (default), hnsw, ivf-flat, ivf-sq8, ivf-pq, ivf-pq-fine, opq-ivf-pq, sq8, "
                            "or a FAISS factory string such as 'IVF4096,PQ48' (see docs/scaling.md)")
    build.add_argument("--nlist", type=int, help="IVF lists (default: about 4*sqrt(vectors))")
    build.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="ray: read, chunk and embed as a Ray Data pipeline (pip install 'kbqa[dist]')")
    build.add_argument("--address", help="with --engine ray: the Ray cluster to join (default: a local instance)")
    build.set_defaults(func=cmd_build)

    info = isub.add_parser("info", help="describe an index folder")
    info.add_argument("--index", required=True)
    info.add_argument("--json", action="store_true", help="print the manifest summary as JSON")
    info.set_defaults(func=cmd_info)
    from kbqa.cli.update import register_index_actions

    register_index_actions(isub)  # update, versions, rollback, check


def cmd_build(args: argparse.Namespace) -> int:
    config = load_config_arg(args)
    index_over = {k: v for k, v in (("factory", args.factory), ("nlist", args.nlist)) if v is not None}
    if index_over:
        config = config.replace(index=index_over)
    if args.engine == "ray":
        if args.deidentify:
            raise KbqaError("--deidentify is not supported with --engine ray yet; build with the local engine")
        from kbqa.dist.build import ray_build

        kb = ray_build(args.sources, args.index, config, address=args.address, format=args.format,
                       overwrite=args.overwrite, mirror=args.mirror, progress=not args.quiet,
                       columns=parse_columns(args.column))
    else:
        kb = _local_build(args, config)
    c = kb.manifest["counts"]
    print(
        f"indexed {c['documents']} documents as {c['chunks']} chunks into {kb.index_dir} ({kb.version}) "
        f"in {kb.manifest['build_seconds']:.1f} s; skipped {c.get('skipped_empty', 0)} empty"
        + (f", {c['skipped_unanswered']} unanswered" if c.get("skipped_unanswered") else "")
        + (f"; {c['retracted']} retracted (excluded from search by default)" if c.get("retracted") else "")
    )
    deid = kb.manifest.get("deidentification")
    if deid:
        print("de-identified: " + (", ".join(f"{n} {cat}" for cat, n in deid.get("replaced", {}).items()) or "nothing found")
              + " replaced")
    return 0


def _local_build(args: argparse.Namespace, config: Any) -> Any:
    from kbqa.pipeline import KnowledgeBase

    return KnowledgeBase.build(
        args.sources,
        args.index,
        config,
        format=args.format,
        overwrite=args.overwrite,
        mirror=args.mirror,
        progress=not args.quiet,
        columns=parse_columns(args.column),
        deidentifier=deidentifier_arg(args),
    )


def _kind_line(index: dict[str, Any]) -> str:
    if "resolved_factory" not in index:
        return str(index["factory"])
    extra = ", ".join(f"{k} {index[k]}" for k in ("nlist", "trained_on", "nprobe", "ef_search", "refine", "tombstones")
                      if index.get(k))
    return f"{index['factory']} = {index['resolved_factory']}" + (f" ({extra})" if extra else "")


def advise(index: dict[str, Any], vectors: int, dim: int = 384) -> str | None:
    """A suggestion when an exact index has grown past the size where approximate kinds pay off."""
    from kbqa.index.faiss_backend import is_flat
    from kbqa.index.kinds import ADVISE_APPROXIMATE_ABOVE

    if vectors <= ADVISE_APPROXIMATE_ABOVE or not is_flat(str(index.get("factory", "Flat"))):
        return None
    gb = vectors * dim * 4 / 1e9 if index.get("backend") == "faiss" else None
    return (
        f"{vectors} vectors in an exact (flat) index{f' (~{gb:.1f} GB at {dim}-d)' if gb else ''}: consider "
        "rebuilding with `--factory ivf-pq-fine` (compressed, re-scored against memory-mapped vectors) or "
        "`--factory hnsw`; docs/scaling.md has the measured trade-offs"
    )


def describe_source(source: dict[str, Any]) -> str:
    """``path (format)``: the path relative to the working directory when under it; the format only
    when one was given or fixed by a recipe (a file's format is otherwise inferred, recorded as null)."""
    name = str(source["source"])
    path = Path(name)
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        name = str(path.relative_to(Path.cwd())) or "."
    return f"{name} ({source['format']})" if source.get("format") else name


def cmd_info(args: argparse.Namespace) -> int:
    from kbqa.index.manifest import read_manifest, summary
    from kbqa.index.store import IndexFolder

    folder = IndexFolder(args.index)
    name = folder.current()
    manifest = {**read_manifest(folder.version_dir(name)), "version": name}
    info = summary(manifest)
    info["versions"] = folder.versions()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    c = info["counts"]
    print(f"index      {folder.root} (version {name} of {len(info['versions'])}; format {info['format_version']})")
    print(f"built      {info['created']} by kbqa {info['kbqa_version']} in {info['build_seconds']} s")
    print(f"documents  {c['documents']}   chunks {c['chunks']}   skipped empty {c.get('skipped_empty', 0)}")
    print(f"embedder   {info['embedder']['name']} ({info['embedder']['dim']}-d, max {info['embedder']['max_seq_length']} tokens)")
    print(f"chunker    {info['chunker']['size']} tokens, overlap {info['chunker']['overlap']}")
    print(f"backend    {info['index']['backend']} {_kind_line(info['index'])}")
    segments = manifest.get("segments") or []
    if segments:
        deleted = sum(e["deleted"] for e in segments)
        print(f"segments   {len(segments)} ({deleted} deleted rows); `kbqa index compact --index {folder.root}` merges them")
    advice = advise(info["index"], c.get("vectors", c["chunks"]), info["embedder"]["dim"])
    if advice:
        print(f"advice     {advice}")
    print(f"sources    {', '.join(describe_source(s) for s in info['sources'])}")
    deid = info.get("deidentification")
    print(f"deidentified {'yes: ' + deid.get('tool', '') if deid and deid.get('applied') else 'no'}")
    print(f"fingerprint {info['fingerprint']}")
    return 0
