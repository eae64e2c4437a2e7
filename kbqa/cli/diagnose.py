"""``kbqa diagnose`` (one description, or a batch with --input/--out) and ``kbqa eval diagnose`` (via eval_main)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kbqa.cli.common import dump, shorten
from kbqa.errors import KbqaError

K_DEFAULT = 10


def register(subparsers: argparse._SubParsersAction, train_subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser(
        "diagnose",
        help="candidate conditions for a description of symptoms, with evidence (decision support)",
        description="Rank the knowledge base's conditions for a description of symptoms: passages retrieved for "
        "it are grouped by the condition their document is about (metadata 'condition', MedQuAD's focus, or "
        "--condition-field) and scored as a differential, each with its evidence sentences. Descriptions that "
        "suggest an emergency are flagged first. Decision support for a professional, not a diagnosis.",
    )
    d.add_argument("description", nargs="?", help="the symptoms, in any words (or --input FILE)")
    d.add_argument("--index", required=True, help="knowledge-base index folder")
    d.add_argument("-k", "--k", type=int, default=K_DEFAULT, help=f"conditions to list (default {K_DEFAULT})")
    d.add_argument("--json", action="store_true", help="print JSON instead of a table")
    d.add_argument("--input", help="batch: a case file (JSONL, CSV, TSV or Parquet), one description per row")
    d.add_argument("--out", help="batch: JSONL output, one {id, conditions, red_flags, abstained} per case "
                   "(default stdout)")
    d.add_argument("--text-column", default=None, help="batch: the description column (default: the classifier's "
                   "text column, else 'text')")
    d.add_argument("--id-column", default=None, help="batch: the id column (default 'id' when present, else the row number)")
    d.add_argument("--classifier", metavar="DIR", default=None,
                   help="a model from `kbqa train classifier` whose calibrated probabilities are mixed in")
    d.add_argument("--condition-field", default=None,
                   help="document metadata field naming the condition (default 'condition', else MedQuAD's 'focus')")
    d.add_argument("--deidentify", action="store_true",
                   help="replace names, dates, ids, contacts and addresses in the descriptions by typed placeholders "
                   "before they are used or written (kbqa.deid; docs/deidentification.md)")
    d.set_defaults(func=_diagnose)


def _diagnose(args: argparse.Namespace) -> int:
    from kbqa.diagnose.assistant import check_description

    if args.k < 1:
        raise KbqaError(f"-k must be a positive integer, got {args.k}")
    if args.input and args.description:
        raise KbqaError("give a description or --input FILE, not both")
    if not args.input:
        if args.description is None:
            raise KbqaError("give a description of the symptoms, e.g. kbqa diagnose --index DIR \"itchy red scaly "
                            "patches on elbows\", or --input cases.jsonl")
        check_description(args.description)  # before the (slow) index load
    if args.out and not args.input:
        raise KbqaError("--out is for batches (--input FILE); a single diagnosis prints to stdout")
    cases = None
    classifier = None
    if args.classifier:
        from kbqa.diagnose.classifier import load_classifier

        classifier = load_classifier(args.classifier)
    if args.input:
        from kbqa.diagnose.cases import read_cases

        text_column = args.text_column or (classifier.text_columns[0] if classifier is not None else "text")
        cases = read_cases(args.input, text_column=text_column, id_column=args.id_column)
    from kbqa.diagnose.assistant import diagnose
    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(args.index)
    if args.deidentify:
        from kbqa.deid import deidentify

        if cases is None:
            args.description = deidentify(args.description)
        else:
            text_columns = set(classifier.text_columns if classifier is not None else ()) | {text_column}
            from dataclasses import replace

            cases = [replace(case, text=deidentify(case.text),
                             row={c: deidentify(v) if c in text_columns and isinstance(v, str) else v
                                  for c, v in case.row.items()})
                     for case in cases]
    if cases is None:
        result = diagnose(kb, args.description, k=args.k, classifier=classifier, condition_field=args.condition_field)
        if args.json:
            dump(result.to_dict())
        else:
            print(render_table(result))
        return 0
    return _batch(kb, cases, args, classifier)


def _batch(kb: Any, cases: list[Any], args: argparse.Namespace, classifier: Any) -> int:
    from tqdm.auto import tqdm

    from kbqa.diagnose.assistant import diagnose
    from kbqa.files import write_atomic
    from kbqa.jsonlines import dumps_jsonl

    rows = []
    for case in tqdm(cases, desc="diagnose", unit="case", disable=args.out in (None, "-")):
        joined = classifier.join(case.row) if classifier is not None and _has(case.row, classifier.text_columns) else None
        d = diagnose(kb, case.text, k=args.k, classifier=classifier, classifier_text=joined,
                     condition_field=args.condition_field).to_dict()
        rows.append({"id": case.id, "conditions": d["conditions"], "red_flags": d["red_flags"],
                     "abstained": d["abstained"]})
    text = dumps_jsonl(rows, ensure_ascii=False)
    if args.out in (None, "-"):
        sys.stdout.write(text)
    else:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, text)
        print(f"{len(rows)} diagnoses written to {args.out}", file=sys.stderr)
    return 0


def _has(row: dict[str, Any], columns: list[str]) -> bool:
    return all(c in row for c in columns)


def render_table(result: Any, width: int = 100) -> str:
    """Red flags first, then a ranked table: condition, confidence, top evidence sentence and its source."""
    from kbqa.serialize import citation

    lines = []
    for flag in result.red_flags:
        said = " + ".join(f'"{p}"' for p in flag.phrases)
        lines.append(f"!! RED FLAG: {flag.label} ({said}): {flag.advice}")
    if result.red_flags:
        lines.append("")
    if result.abstained:
        lines.append(f"No condition has enough evidence ({result.provenance.get('reason', 'insufficient evidence')}).")
        if result.conditions:
            lines.append("Closest conditions, shown for reference only:")
    lines.append(f"{'#':>2}  {'condition':<60} {'conf':>5}")
    for i, c in enumerate(result.conditions, start=1):
        ev = c.evidence[0] if c.evidence else None
        lines.append(f"{i:>2}  {shorten(c.name, 60):<60} {c.confidence:>5.2f}")
        if ev is None:
            lines.append("      (no passage retrieved)")
            continue
        lines.append(f"      \"{shorten(ev.sentence, width - 8)}\"")
        lines.append(f"      {shorten(citation(ev.hit.meta, ev.hit.doc_id, ev.hit.title), width - 6)}")
    lines.append("")
    lines.append("conf: share of the ranking's evidence (a softmax over condition scores), not a probability of disease.")
    lines.append(result.provenance.get("note", ""))
    return "\n".join(lines)


def eval_main(argv: list[str]) -> int:
    """``kbqa eval diagnose --index DIR --cases FILE --text-column text --label-column label [--names F] --out R``."""
    ap = argparse.ArgumentParser(prog="kbqa eval diagnose", description="Top-1/5/10 and MRR of `kbqa diagnose` on "
                                 "labelled cases, with BM25 and dense baselines (same grouping by condition).")
    ap.add_argument("--index", required=True)
    ap.add_argument("--cases", required=True, help="JSONL, CSV, TSV or Parquet case file")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--id-column", default=None)
    ap.add_argument("--names", default=None, help="JSON {label: [accepted names]} (synonyms)")
    ap.add_argument("--exclude-column", default=None,
                    help="a column of document ids (';'-separated) whose passages are held out of that case's hits "
                    "(e.g. the case's own source document)")
    ap.add_argument("--condition-field", default=None)
    ap.add_argument("--systems", default="kbqa,bm25,dense", help="comma-separated; the first is reported at the top")
    ap.add_argument("--out", required=True, help="report folder: report.json, report.md, per_case.jsonl")
    return _eval(ap.parse_args(argv))  # kbqa.cli.main reports a KbqaError, as for every command


def _eval(args: argparse.Namespace) -> int:
    from kbqa.diagnose.benchmark import SYSTEMS, evaluate, render_markdown, write_report
    from kbqa.diagnose.cases import read_cases

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise KbqaError(f"unknown --systems {unknown}; known: {sorted(SYSTEMS)}")
    cases = read_cases(args.cases, text_column=args.text_column, id_column=args.id_column, label_column=args.label_column)
    if args.exclude_column and args.exclude_column not in cases[0].row:
        raise KbqaError(f"{args.cases}: no exclude column {args.exclude_column!r}; columns: {list(cases[0].row)}")
    names = _names(args.names) if args.names else None
    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(args.index)
    report, per_case = evaluate(kb, cases, names, exclude_column=args.exclude_column,
                                condition_field=args.condition_field, systems=systems)
    path = write_report(report, per_case, args.out)
    print(render_markdown(report))
    print(f"report written to {path}")
    return 0


def _names(path: str) -> dict[str, list[str]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise KbqaError(f"names file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                             for v in data.values()):
        raise KbqaError(f"{path}: expected a JSON object {{\"label\": [\"name\", \"synonym\", ...]}}")
    return data
