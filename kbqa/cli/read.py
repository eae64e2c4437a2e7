"""``kbqa ask``, ``kbqa read`` and ``kbqa train reader``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kbqa.cli.common import add_rerank_args, apply_rerank_args, read_jsonl_input
from kbqa.errors import InputError, KbqaError


def register(sub: Any, train_sub: Any) -> None:
    from kbqa.read.train_recipe import ReaderRecipe
    from kbqa.train_loop import SCHEDULES

    d = ReaderRecipe()
    t = train_sub.add_parser("reader", help="fine-tune the yes/no/maybe reader (PubMedQA JSON and/or JSONL)")
    t.add_argument("--data", action="append", required=True, metavar="SOURCE",
                   help="PubMedQA JSON (split by --split) or JSONL {question, context, label}; repeatable")
    t.add_argument("--out", required=True, help="model folder to write, e.g. models/reader")
    t.add_argument("--base", help="local encoder folder to start from (default: bundled all-MiniLM-L6-v2)")
    t.add_argument("--split", default=None, help="PubMedQA split file (default: eval/splits/pubmedqa.json)")
    t.add_argument("--epochs", type=int, default=d.epochs, help="epochs on question + contexts")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--schedule", choices=SCHEDULES, default="linear",
                   help="learning-rate schedule (transformers'; warm-up over the first 10%% of the steps)")
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--max-length", type=int, default=d.max_length, help="tokens of question + passage")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--class-weights", choices=["balanced", "none"], default=d.class_weights)
    t.add_argument("--phase1-epochs", type=int, default=d.phase1_epochs,
                   help="epochs of the earlier phase (question + conclusion, and JSONL sources); 0 skips it")
    t.add_argument("--phase1-lr", type=float, default=d.phase1_lr)
    t.add_argument("--phase1-max-length", type=int, default=d.phase1_max_length)
    t.add_argument("--head-lr", type=float, default=d.head_lr, help="learning rate of the new classification head")
    t.add_argument("--pooler-init", choices=["identity", "keep"], default=d.pooler_init,
                   help="restart the base model's pooler as identity (MiniLM ships a near-zero one)")
    t.add_argument("--no-conclusion-phase", action="store_true", help="leave PubMedQA conclusions out of phase 1")
    t.add_argument("--abstracts-in-main", action="store_true",
                   help="also train on question + whole abstract (with conclusion) in the main phase")
    t.add_argument("--main-inputs", default=d.main_inputs, metavar="MODES",
                   help="comma list of what the main phase reads with each question: reasoning (abstract without "
                        "its conclusion), chunks (the abstract split as an index splits it), abstract, conclusion")
    t.add_argument("--coverage", type=float, default=d.target_coverage,
                   help="share of dev questions answered at the fitted abstention threshold")
    t.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    t.add_argument("--average-last", type=int, default=d.average_last, metavar="N",
                   help="save the mean weights of the last N epochs instead of the best dev epoch (0: best epoch)")
    t.set_defaults(func=cmd_train)

    a = sub.add_parser("ask", help="answer a question over an index: a yes/no verdict, or typed answer passages for an open question, with cited evidence")
    a.add_argument("question", nargs="?", help="the question (or use --input)")
    a.add_argument("--index", required=True, help="index folder (kbqa index build)")
    a.add_argument("--reader", default=None, help="reader folder (default: $KBQA_READER or models/reader)")
    a.add_argument("-k", type=int, default=10, help="passages to retrieve and read")
    a.add_argument("--threshold", type=float, default=None, help="abstain below this confidence (default: the reader's)")
    add_precision_arg(a)
    a.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    a.add_argument("--input", help="JSONL of {id, question}: writes one JSON answer per line")
    a.add_argument("--out", help="with --input: write here instead of stdout")
    add_rerank_args(a)
    a.set_defaults(func=cmd_ask)

    r = sub.add_parser("read", help="run the reader on (question, context) pairs from JSONL")
    r.add_argument("--reader", default=None, help="reader folder (default: $KBQA_READER or models/reader)")
    r.add_argument("--input", required=True, help='JSONL lines {"id", "question", "context"} (context: str or list)')
    r.add_argument("--out", help="write predictions here (default: stdout)")
    r.add_argument("--batch-size", type=int, default=32)
    add_precision_arg(r)
    r.set_defaults(func=cmd_read)


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    from kbqa.precision import PRECISIONS

    p.add_argument("--reader-precision", choices=PRECISIONS, default=None,
                   help="reader arithmetic: auto (default; $KBQA_READER_PRECISION overrides) = bf16 autocast where "
                        "this machine runs it faster than fp32 (AMX, CUDA, or a cached timed probe), else fp32")


def cmd_train(args: argparse.Namespace) -> int:
    from kbqa.read import data as rdata
    from kbqa.read.train_recipe import ReaderRecipe, train_reader

    recipe = ReaderRecipe(
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
        class_weights=args.class_weights, phase1_epochs=args.phase1_epochs, phase1_lr=args.phase1_lr,
        phase1_max_length=args.phase1_max_length, conclusion_phase=not args.no_conclusion_phase,
        abstracts_in_main=args.abstracts_in_main, target_coverage=args.coverage, head_lr=args.head_lr,
        pooler_init=args.pooler_init, main_inputs=args.main_inputs, label_smoothing=args.label_smoothing,
        average_last=args.average_last, schedule=args.schedule,
    )
    result = train_reader(args.data, args.out, base_model=args.base, recipe=recipe,
                          split_file=args.split or rdata.DEFAULT_SPLIT)
    dev = result["dev"]
    print(f"reader saved to {args.out} in {result['train_seconds']:.0f} s; dev accuracy {dev.get('accuracy', 0):.3f}, "
          f"macro-F1 {dev.get('macro_f1', 0):.3f} "
          + (f"(mean of epochs {dev['averaged_epochs'][0]}-{dev['averaged_epochs'][1]})" if dev.get("averaged_epochs")
             else f"(epoch {dev.get('epoch')})"))
    if result["calibration"]:
        c = result["calibration"]
        for name, part in (("calibration", c), ("concluding sentences", c.get("sentences"))):
            if part:
                print(f"{name}: temperature {part['temperature']:.2f}, abstain below {part['threshold']:.2f} "
                      f"(dev coverage {part['coverage']:.2f}, accuracy answered {part['accuracy_answered']:.3f}, "
                      f"ECE {part['ece_after']:.3f})")
    return 0


def _writer(out: str | None) -> Any:
    return open(out, "w", encoding="utf-8") if out else sys.stdout


def cmd_ask(args: argparse.Namespace) -> int:
    from kbqa.pipeline import KnowledgeBase
    from kbqa.read.answer import answer
    from kbqa.read.reader import Reader, check_question
    from kbqa.serialize import answer_to_dict

    if bool(args.question) == bool(args.input):
        raise KbqaError("give either a question or --input questions.jsonl")
    if args.input:  # validate every line before the slow part
        rows = []
        for n, rec in read_jsonl_input(args.input, ("id", "question")):
            try:
                check_question(rec["question"])
            except KbqaError as exc:
                raise InputError(str(exc), path=args.input, line=n) from exc
            rows.append(rec)
    else:
        check_question(args.question)
    kb = apply_rerank_args(KnowledgeBase.load(args.index), args)
    reader = Reader.load(args.reader, precision=args.reader_precision)
    if args.input:
        from tqdm.auto import tqdm

        out = _writer(args.out)
        try:
            for rec in tqdm(rows, desc="ask", disable=not sys.stderr.isatty()):
                ans = answer(kb, rec["question"], k=args.k, reader=reader, threshold=args.threshold)
                out.write(json.dumps({"id": rec["id"], **answer_to_dict(ans)}) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
        return 0
    ans = answer(kb, args.question, k=args.k, reader=reader, threshold=args.threshold)
    if args.json:
        print(json.dumps(answer_to_dict(ans), indent=2))
    else:
        print(format_answer(ans))
    return 0


def format_answer(ans: Any, max_evidence: int = 5) -> str:
    """The terminal view: verdict, confidence, top evidence with citations and highlighted sentence."""
    from kbqa.disclaimer import DISCLAIMER
    from kbqa.serialize import citation

    probs = ", ".join(f"{k} {v:.2f}" for k, v in ans.probabilities.items())
    reason = ans.provenance.get("reason", "")
    insufficient = reason.startswith("insufficient evidence")
    if ans.question_type != "yes_no":
        head = "Decision: none (not a yes/no question: no verdict); the most relevant evidence follows."
    elif insufficient:
        head = f"Decision: none, {reason}."
    elif ans.abstained:
        head = f"Decision: none, abstained ({reason}; the evidence leans {ans.verdict.upper()})."
    else:
        head = f"Decision: {ans.decision.upper()} (confidence {ans.confidence:.2f})"
    # open questions are not read, and off-topic readings are not shown: no probabilities to show
    was_read = ans.question_type == "yes_no" and not insufficient
    lines = [f"Q: {ans.question}"]
    if ans.intent is not None:
        it = ans.intent
        focus = ", ".join(f"{f} ({k})" for f, k in zip(it.focus, it.focus_kinds)) or "none found"
        lines.append(f"Type: {it.type} (confidence {it.confidence:.2f}, {it.source}); focus: {focus}")
    if ans.question_type != "yes_no" and ans.intent is not None:
        head = ("Answer: the passages below, quoted from the sources (no verdict: not a yes/no question)."
                if ans.answer_passages else f"Answer: none, {reason}; the closest evidence follows.")
    lines += [head] + ([f"   probabilities: {probs}"] if was_read else [])
    for read in (ans.provenance.get("verdict_read") or []) if was_read else []:  # the sentences the verdict came from
        text = read["text"]
        lines.append(f"   read from {read['doc_id']}: {text[:240]}{'...' if len(text) > 240 else ''}")
    if insufficient and ans.evidence:
        lines.append("   The closest passages retrieved follow; they do not address the question.")
    lines.append("")
    shown = ans.answer_passages or ans.evidence[:max_evidence]
    for n, ev in enumerate(shown, 1):
        h = ev.hit
        stance = ("off topic  " if ev.stance == "off_topic" else f"{ev.stance} ({ev.probability:.2f})  ") if was_read else ""
        lines.append(f"[{n}] {stance}{citation(h.meta, h.doc_id, h.title)}")
        if ev.highlight:
            a, b = ev.highlight
            lines.append(f"    \u00bb {h.text[a:b]}")
        else:
            lines.append(f"    {h.text[:200]}{'...' if len(h.text) > 200 else ''}")
    if not ans.evidence:
        lines.append("(no evidence retrieved)")
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


def cmd_read(args: argparse.Namespace) -> int:
    from kbqa.read.reader import Reader, check_question

    items = []
    for n, rec in read_jsonl_input(args.input, ("id", "question", "context")):
        ctx = rec["context"]
        if isinstance(ctx, list) and all(isinstance(c, str) for c in ctx):
            ctx = " ".join(ctx)
        if not isinstance(ctx, str):
            raise InputError("context must be a string or a list of strings", path=args.input, line=n)
        try:
            q = check_question(rec["question"])
        except KbqaError as exc:
            raise InputError(str(exc), path=args.input, line=n) from exc
        items.append((rec["id"], q, ctx))
    reader = Reader.load(args.reader, precision=args.reader_precision)
    probs = reader.predict_proba([(q, c) for _, q, c in items], batch_size=args.batch_size,
                                 progress=sys.stderr.isatty())
    out = _writer(args.out)
    try:
        for (rid, _, _), p in zip(items, probs):
            row = {lab: round(float(v), 6) for lab, v in zip(reader.labels, p)}
            out.write(json.dumps({"id": rid, "label": max(row, key=row.__getitem__), "probabilities": row}) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
