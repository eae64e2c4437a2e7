"""`kbqa deid`: de-identify the text columns of a CSV/TSV/JSONL file (names, dates, IDs ... -> [NAME], [DATE], ...)."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any, train_sub: Any) -> None:
    p = sub.add_parser(
        "deid",
        help="de-identify text columns of a CSV/TSV/JSONL file (PHI -> typed placeholders)",
        description="Names, dates more specific than the year, ages over 89, phone/fax numbers, emails, record, "
        "account, licence and other ID numbers, street addresses, ZIP codes, URLs and IP addresses in each text "
        "column become [NAME], [DATE], [AGE], [PHONE], [EMAIL], [ID], [ADDRESS], [ZIP], [URL], [IP]. Every row and "
        "column is kept; each text column is replaced in place under its own name. Detection is by patterns, "
        "census name lists and context (Presidio, no statistical model): check a sample before relying on it.",
    )
    p.add_argument("--input", required=True, metavar="FILE", help="a .csv, .tsv or .jsonl file")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the de-identified copy")
    p.add_argument("--text-column", action="append", default=None, metavar="NAME",
                   help="a column (JSONL: field) to de-identify; repeatable (default: text)")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl"], help="input format (default: from the suffix)")
    p.add_argument("--report", action="store_true", help="print how many values of each category were replaced (never the values)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_deid)


def cmd_deid(args: argparse.Namespace) -> int:
    from kbqa.deid import CATEGORIES
    from kbqa.deid.tables import deidentify_file

    columns = args.text_column or ["text"]
    report = deidentify_file(args.input, args.out, columns, format=args.format, progress=not args.quiet)
    print(f"de-identified {report.cells_changed} of {report.cells} cells in {report.rows} rows "
          f"(columns {', '.join(columns)}) -> {args.out}", file=sys.stderr)
    if args.report:
        print(f"{'category':<10} replaced")
        for cat in CATEGORIES:
            print(f"{cat:<10} {report.replaced.get(cat, 0)}")
        print(f"{'total':<10} {sum(report.replaced.values())}")
    return 0
