"""`kbqa index update|compact|versions|rollback|check`: keep an index current, merge its segments, list and
restore versions, verify one.

Hooked under `kbqa index` by ``register_index_actions(isub)`` (called from kbqa/cli/index.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from kbqa.index.update import DEFAULT_KEEP

SHOW_IDS = 10  # ids listed per kind in the update summary


def register_index_actions(isub: Any) -> None:
    """Add the update/compact/versions/rollback/check actions to the `kbqa index` sub-parsers."""
    up = isub.add_parser(
        "update",
        help="add new documents, re-embed changed ones, remove withdrawn ones (as a new version)",
        description="Documents are matched by id and compared by checksum: new ones are added, changed ones "
        "re-embedded, unchanged ones keep their vectors. PubMed <DeleteCitation> records, --delete-ids and "
        "--sync remove documents. The result is committed as a new version; older ones beyond --keep are pruned. "
        "PubMed XML files (e.g. pubmed-updates/*.xml.gz) are applied in order of file name, so a later file's "
        "revision or <DeleteCitation> wins; each version records the files applied (name, sha256), an already "
        "applied file is skipped and one with the same name but other bytes is refused.",
    )
    up.add_argument("sources", nargs="*", metavar="SOURCE", help="files, folders or recipe names with new or revised documents")
    up.add_argument("--index", required=True, help="index folder to update")
    up.add_argument("--delete-ids", metavar="FILE", help="file of document ids to remove, one per line ('#' comments)")
    up.add_argument("--sync", action="store_true", help="also remove every document absent from the SOURCEs")
    up.add_argument("--keep", type=int, default=DEFAULT_KEEP, help=f"versions to keep, current included (default {DEFAULT_KEEP})")
    up.add_argument("--format", help="input format (jsonl, csv, tsv, pubmedqa, medquad, pubmed); inferred by default")
    up.add_argument("--mirror", help="local folder with corpus files (default: $KBQA_MIRROR or ../shared/data)")
    up.add_argument("--column", action="append", default=[], metavar="FIELD=COLUMN", help="CSV/TSV column mapping")
    up.add_argument("--allow-older", action="store_true",
                    help="apply a PubMed file whose name sorts before one already applied (refused by default)")
    up.add_argument("--json", action="store_true", help="print the report as JSON")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    up.add_argument("--deidentify", action="store_true",
                    help="de-identify the new documents (required, and the default, for an index built with --deidentify)")
    up.set_defaults(func=cmd_update)

    cp = isub.add_parser(
        "compact", help="merge the segments that updates wrote into one piece (as a new version)",
        description="Each update writes one segment and marks replaced chunks deleted; compaction merges the "
        "current version's segments into one, without the deleted rows, and commits it as a new version "
        "(readers keep the old one; Ctrl-C or a crash leaves the index as it was).",
    )
    cp.add_argument("--index", required=True, help="index folder to compact")
    cp.add_argument("--keep", type=int, default=DEFAULT_KEEP, help=f"versions to keep, current included (default {DEFAULT_KEEP})")
    cp.add_argument("--json", action="store_true", help="print the report as JSON")
    cp.add_argument("--quiet", action="store_true", help="no progress bar")
    cp.set_defaults(func=cmd_compact)

    ver = isub.add_parser("versions", help="list the versions of an index folder")
    ver.add_argument("--index", required=True)
    ver.add_argument("--json", action="store_true")
    ver.set_defaults(func=cmd_versions)

    rb = isub.add_parser("rollback", help="make an earlier version current again (checked first)")
    rb.add_argument("--index", required=True)
    rb.add_argument("--to", required=True, metavar="VERSION", help="a version name (v000002) or number (2)")
    rb.set_defaults(func=cmd_rollback)

    ck = isub.add_parser("check", help="verify counts, checksums and ids of a version (exit 1 on problems)")
    ck.add_argument("--index", required=True)
    ck.add_argument("--version", help="check this version instead of the current one")
    ck.add_argument("--all", action="store_true", help="check every version")
    ck.add_argument("--json", action="store_true")
    ck.set_defaults(func=cmd_check)


def cmd_update(args: argparse.Namespace) -> int:
    from kbqa.cli.common import deidentifier_arg, dump, parse_columns
    from kbqa.index.update import read_id_file, update_index

    if not args.deidentify and args.sources and _built_deidentified(args.index):
        args.deidentify = True  # an index of de-identified documents only ever takes de-identified ones
        print(f"kbqa: {args.index} was built with --deidentify: de-identifying the new documents too", file=sys.stderr)

    report = update_index(
        args.index,
        args.sources,
        delete_ids=read_id_file(args.delete_ids) if args.delete_ids else (),
        sync=args.sync,
        keep=args.keep,
        format=args.format,
        mirror=args.mirror,
        columns=parse_columns(args.column),
        progress=not args.quiet,
        deidentifier=deidentifier_arg(args),
        allow_older=args.allow_older,
    )
    if args.json:
        dump({**dataclasses.asdict(report), "committed": report.committed})
    else:
        print(f"updated {report.index_dir} {report.summary()}")
        for what, ids in (("added", report.added), ("changed", report.changed), ("removed", report.removed),
                          ("not in the index (not removed)", report.not_found), ("retracted", report.retracted)):
            if ids:
                more = f" ... and {len(ids) - SHOW_IDS} more" if len(ids) > SHOW_IDS else ""
                print(f"  {what}: {', '.join(ids[:SHOW_IDS])}{more}")
        for f in report.applied_files:
            print(f"  applied {f['name']}: +{f['added']} ~{f['changed']} -{f['deleted']} ({f['unchanged']} unchanged)")
        for f in report.skipped_files:
            print(f"  skipped {f['name']}: already applied in {f['version']}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from kbqa.cli.common import dump
    from kbqa.index.compact import compact_index

    report = compact_index(args.index, keep=args.keep, progress=not args.quiet)
    if args.json:
        dump({**dataclasses.asdict(report), "committed": report.committed})
    else:
        print(f"compacted {report.index_dir} {report.summary()}")
    return 0


def _built_deidentified(index: str) -> bool:
    from kbqa.index.manifest import read_manifest
    from kbqa.index.store import IndexFolder

    try:
        folder = IndexFolder(index)
        manifest = read_manifest(folder.version_dir(folder.current()))
    except Exception:  # no index or a broken one: update_index says what is wrong
        return False
    return bool((manifest.get("deidentification") or {}).get("applied"))


def cmd_versions(args: argparse.Namespace) -> int:
    from kbqa.cli.common import dump
    from kbqa.index.versions import list_versions

    versions = list_versions(args.index)
    if args.json:
        dump([dataclasses.asdict(v) for v in versions])
        return 0
    print(f"{'':2}{'version':<9} {'created':<26} {'kind':<7} {'documents':>9} {'chunks':>8} {'retracted':>9}  change")
    for v in versions:
        change = f"+{v.added} ~{v.changed} -{v.removed}" if v.kind == "update" else ""
        if v.error:
            change = f"unreadable: {v.error}"
        print(f"{'*' if v.current else '':2}{v.name:<9} {v.created:<26} {v.kind:<7} {v.documents:>9} {v.chunks:>8} "
              f"{v.retracted:>9}  {change}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from kbqa.index.versions import rollback

    previous, now = rollback(args.index, args.to)
    if previous == now:
        print(f"{args.index}: {now} is already current")
    else:
        print(f"{args.index}: current version {previous} -> {now} (newer versions are kept; the next update builds on {now})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from kbqa.cli.common import dump
    from kbqa.index.check import check_index
    from kbqa.index.store import IndexFolder

    names = IndexFolder(args.index).versions() if args.all else [args.version]
    reports = [check_index(args.index, name) for name in names]
    if args.json:
        dump([{**dataclasses.asdict(r), "ok": r.ok} for r in reports])
    else:
        for r in reports:
            c = r.counts
            state = "ok" if r.ok else f"{len(r.problems)} PROBLEM(S)"
            print(f"{r.index_dir} {r.version}{' (current)' if r.current else ''}: {state}; "
                  f"{c.get('documents', '?')} documents, {c.get('chunks', '?')} chunks, {c.get('vectors', '?')} vectors")
            for p in r.problems:
                print(f"  problem: {p}")
        for w in reports[-1].warnings if reports else ():
            print(f"  warning: {w}")
    return 0 if all(r.ok for r in reports) else 1
