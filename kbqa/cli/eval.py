"""`kbqa eval`: offline evaluation over an index, plus subcommands (`export`, `compare`, `ddi`, ...).

``kbqa eval --index DIR --questions Q.jsonl [--qrels QRELS] ...`` runs an evaluation.
``kbqa eval export|compare ...`` are argparse subparsers (``ACTIONS``); ``kbqa eval NAME ARGS...`` for
a name of ``EVAL_SUBCOMMANDS`` (``ddi``) calls that entry with ``ARGS``: another module adds one by
putting a callable, or a lazy ``"module:function"`` string, in that dict.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from kbqa.cli.common import add_rerank_args, apply_rerank_args
from kbqa.errors import KbqaError

EvalSubcommand = Callable[[list[str]], int]


def _add_export(sub: Any) -> None:
    """``kbqa eval export {liveqa,medquad,pubmedqa} --out DIR [--data PATH] [--split FILE] [--part dev] [--short]``."""
    from kbqa.evaluate.export import DEFAULT_DATA, DEFAULT_SPLIT, EXPORTERS

    ap = sub.add_parser(
        "export", help="write a benchmark from a dataset",
        description="Write a benchmark (corpus.jsonl, questions.jsonl, qrels.tsv, info.json) from a dataset.",
    )
    ap.add_argument("dataset", choices=sorted(EXPORTERS))
    ap.add_argument("--out", required=True, help="benchmark folder to write")
    ap.add_argument("--data", help=f"dataset path (default: {DEFAULT_DATA})")
    ap.add_argument("--split", help=f"split file (default: {DEFAULT_SPLIT})")
    ap.add_argument("--part", default="dev", choices=["dev", "train", "all"], help="which questions (default dev)")
    ap.add_argument("--short", action="store_true",
                    help="liveqa only: each question is its subject line + the first sentence of its message")
    ap.add_argument("--no-distractors", action="store_true",
                    help="liveqa only: the corpus is the reference answers alone, without MedQuAD's pairs")
    ap.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from kbqa.evaluate.export import DEFAULT_DATA, DEFAULT_SPLIT, EXPORTERS

    extra: dict[str, Any] = {}
    if args.dataset == "liveqa":
        extra = {"short": args.short, "distractors": None if args.no_distractors else DEFAULT_DATA["medquad"]}
    elif args.short or args.no_distractors:
        raise KbqaError(f"--short and --no-distractors apply to the liveqa benchmark, not to {args.dataset}")
    info = EXPORTERS[args.dataset](
        args.out,
        data=args.data or DEFAULT_DATA[args.dataset],
        split=args.split or DEFAULT_SPLIT[args.dataset],
        part=args.part,
        **extra,
    )
    print(f"wrote {args.out}: {info['counts']}")
    return 0


def _add_compare(sub: Any) -> None:
    """``kbqa eval compare A/report.json B/report.json``."""
    ap = sub.add_parser(
        "compare", help="compare two evaluation runs",
        description="Side-by-side metrics of two evaluation runs with paired-bootstrap p-values "
        "(reads per_query.jsonl next to each report).",
    )
    ap.add_argument("a", help="baseline run: report.json or its folder")
    ap.add_argument("b", help="new run: report.json or its folder")
    ap.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from kbqa.evaluate.report import compare, format_comparison

    print(format_comparison(compare(args.a, args.b), args.a, args.b))
    return 0


# sub-actions defined here as subparsers
ACTIONS: dict[str, Callable[[Any], None]] = {"export": _add_export, "compare": _add_compare}
# sub-actions that parse their own arguments: ``kbqa eval NAME ARGS...`` calls ``fn(ARGS)``; another
# module adds one with a callable or a lazy ``"module:function"`` string
EVAL_SUBCOMMANDS: dict[str, EvalSubcommand | str] = {
    "ddi": "kbqa.cli.ddi:eval_main",
    "classifier": "kbqa.cli.classify:eval_main",
    "diagnose": "kbqa.cli.diagnose:eval_main",
}


def _resolve(name: str) -> EvalSubcommand:
    target = EVAL_SUBCOMMANDS[name]
    if callable(target):
        return target
    module_name, _, func = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise KbqaError(f"`kbqa eval {name}` is not available: module {module_name} is missing") from None
        raise
    fn = getattr(module, func, None)
    if fn is None:
        raise KbqaError(f"`kbqa eval {name}` is not available: {module_name} has no {func}()")
    return fn


def _names() -> list[str]:
    return sorted({*ACTIONS, *EVAL_SUBCOMMANDS})


class _AnyName(dict):
    """The sub-action table: any first positional passes argparse's choice check, so that an unknown
    name is refused by cmd_eval (a kbqa error, exit status 2) rather than as a usage error."""

    def __contains__(self, key: object) -> bool:
        return True


class _EvalActions(argparse._SubParsersAction):
    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        name = values[0]
        if name in ACTIONS:
            super().__call__(parser, namespace, values, option_string)
        elif name in EVAL_SUBCOMMANDS:  # its own parser reads the rest, untouched
            namespace.action, namespace.func, namespace.argv = name, _passthrough(name), list(values[1:])
        else:
            namespace.unknown_action = name


def _passthrough(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return int(_resolve(name)(args.argv) or 0)

    return run


def register(subparsers: Any, train_subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate retrieval and answers on a benchmark (or: eval export|compare|ddi|classifier ...)",
        description="Evaluate an index (and a reader) on questions.jsonl [+ qrels.tsv]; writes report.json, "
        "report.md, per_query.jsonl and PNG plots. Subcommands: "
        + ", ".join(f"`kbqa eval {n} --help`" for n in _names()),
    )
    p.add_argument("--index", help="index folder")
    p.add_argument("--questions", help='questions JSONL: {"id", "question", "answer"?}')
    p.add_argument("--qrels", help="TREC qrels 'qid 0 docid grade' (omit: no retrieval metrics)")
    p.add_argument("--reader", help="reader model folder (answers are scored when questions carry labels)")
    from kbqa.cli.read import add_precision_arg

    add_precision_arg(p)
    p.add_argument("-k", type=int, default=10, help="passages per question for the reader and latency (default 10); "
                   "retrieval metrics always rank >= 100 documents")
    p.add_argument("--out", default="runs/eval", help="report folder (default runs/eval)")
    p.add_argument("--config", help="TOML config (search/device settings)")
    p.add_argument("--baseline", action="append", default=[], choices=["bm25", "dense", "hybrid", "majority"],
                   help="also score a baseline (repeatable); majority is added whenever answers are scored")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_rerank_args(p)
    p.set_defaults(func=cmd_eval, unknown_action=None)
    p.register("action", "eval_actions", _EvalActions)
    sub = p.add_subparsers(action="eval_actions", dest="action", metavar="ACTION", required=False)
    sub.choices = _AnyName(sub.choices)
    for add in ACTIONS.values():
        add(sub)
    for name in EVAL_SUBCOMMANDS:
        if name not in ACTIONS:
            sub.add_parser(name, help=f"`kbqa eval {name} --help`", add_help=False)  # listed; parses its own ARGS


def cmd_eval(args: argparse.Namespace) -> int:
    if args.unknown_action:
        raise KbqaError(f"unknown eval subcommand {args.unknown_action!r}; choose one of {_names()}, "
                        "or run an evaluation with --index and --questions")
    if not args.index or not args.questions:
        raise KbqaError("kbqa eval needs --index DIR and --questions FILE (or a subcommand: "
                        f"{', '.join(_names())})")
    from kbqa.evaluate.benchmark import fit_qrels, load_qrels, load_questions
    from kbqa.evaluate.report import write_report
    from kbqa.evaluate.run import evaluate
    from kbqa.pipeline import KnowledgeBase

    questions = load_questions(args.questions)
    config = None
    if args.config:
        from kbqa.config import load_config

        config = load_config(args.config)
    kb = apply_rerank_args(KnowledgeBase.load(args.index, config), args)
    chunks = list(kb.iter_chunks())
    qrels = None
    qrels_check = None
    if args.qrels:
        # judgements of questions not asked are skipped (a subset of a benchmark is scored as trec_eval
        # does); judged documents the index lacks count as relevant and never retrieved: both are said
        fit = fit_qrels(load_qrels(args.qrels), [q.qid for q in questions], {c.doc_id for c in chunks})
        for warning in fit.warnings():
            print(f"kbqa: warning: {warning}", file=sys.stderr)
        qrels, qrels_check = fit.qrels, fit.summary()
    reader = None
    if args.reader:
        from kbqa.read.reader import Reader

        reader = Reader.load(args.reader, precision=args.reader_precision)
    result = evaluate(kb, questions, qrels=qrels, reader=reader, k=args.k, baselines=args.baseline,
                      chunks=chunks, progress=not args.no_progress)
    result.report["inputs"] = {"index": args.index, "questions": args.questions, "qrels": args.qrels,
                               "reader": args.reader, "config": args.config}
    if qrels_check is not None:
        result.report["qrels_check"] = qrels_check
    path = write_report(result, args.out)
    _summary(result.report, path)
    return 0


def _summary(report: dict[str, Any], path: Any) -> None:
    if "retrieval" in report:
        r = report["retrieval"]
        print(f"retrieval ({r['n_questions']} q): nDCG@10 {r['nDCG@10']:.4f}  R@10 {r['R@10']:.4f}  "
              f"R@100 {r['R@100']:.4f}  RR@10 {r['RR@10']:.4f}")
        for name, b in report["baselines"].items():
            if "retrieval" in b:
                print(f"  {name:>8}: nDCG@10 {b['retrieval']['nDCG@10']:.4f}  R@100 {b['retrieval']['R@100']:.4f}")
    if "answers" in report:
        a = report["answers"]
        print(f"answers ({a['n_questions']} q): accuracy {a['accuracy']:.4f}  macro-F1 {a['macro_f1']:.4f}  "
              f"ECE {a['ece']:.4f}")
    elif "retrieval" not in report:
        print("nothing scored: give --qrels for retrieval, or --reader with questions carrying yes/no/maybe answers",
              file=sys.stderr)
    print(f"report: {path}")
