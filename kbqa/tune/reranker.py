"""Fine-tune a cross-encoder reranker on (query, positive, hard negatives): ``kbqa train reranker``.

The model is a sentence-transformers ``CrossEncoder`` with one output (a relevance logit) over
``query [SEP] passage``, started by default from the tuned embedder (``kbqa-medical-minilm``, itself
MiniLM fine-tuned on the same train parts; on dev it beat starting from the bundled MiniLM, see
models/reranker/MODEL_CARD.md); any local encoder or cross-encoder folder works. Training
rows come from kbqa.tune.pairs (train parts of the committed splits only; negatives mined by BM25
and by a dense model, by default the default embedder whose candidates the reranker re-scores;
never a passage that answers the query). The loss is listwise: a
softmax cross-entropy over the logits of each query's positive and its hard negatives
(localized contrastive estimation, Gao et al. 2021), which trains the scores to rank rather than
to be calibrated probabilities. Passages are what the index stores (``title\\n\\ntext`` of a chunk),
as :func:`kbqa.chunk.embed_text` gives them at query time.

The loop is kbqa.train_loop (kbqa's one loop: resumable, no pickles). The result is a CrossEncoder folder in fp16
safetensors plus ``train_info.json``.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.rerank import load_cross_encoder
from kbqa.tune.workdir import cached_rows, open_work, write_summary


@dataclass(frozen=True)
class RerankerRecipe:
    max_queries: int = 2000
    negatives: int = 3  # hard negatives per query (each query is a group of 1 + negatives passages)
    epochs: int = 2
    batch_size: int = 8  # queries per step
    lr: float = 6e-5
    head_lr: float = 1e-3  # the new one-output relevance head
    # MiniLM ships a near-zero pooler (weight std ~0.01) that starves the encoder of gradient (the
    # loss sits at log(1 + negatives)); "identity" restarts it as tanh(h_CLS), as kbqa's readers do
    pooler_init: str = "identity"
    warmup: float = 0.1  # share of the steps spent warming up (then the schedule decays)
    schedule: str = "linear"  # a transformers schedule (kbqa.train_loop.SCHEDULES)
    weight_decay: float = 0.01
    # query + passage are cut to this many tokens while training (a CPU budget); the saved model
    # reads ``inference_max_length`` tokens
    max_length: int = 160
    inference_max_length: int = 256
    # bf16 autocast (weights and optimizer stay fp32): ~2x faster steps on CPUs with bf16 support
    precision: str = "bf16"
    seed: int = 0
    sources: tuple[str, ...] = ("medquad", "pubmedqa", "claims")
    # the bi-encoder whose top passages (with BM25's) are the hard negatives: the default embedder,
    # whose candidates the reranker re-scores at query time
    miner: str = "kbqa-medical-minilm"


def groups(rows: list[dict[str, Any]], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The rows shuffled with the seed and the epoch, cut into batches of ``batch_size`` queries."""
    order = list(range(len(rows)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def _rows(out: Path, recipe: RerankerRecipe, base_model: str, data: dict[str, str],
          mine_index: dict[str, str] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from kbqa.chunk import Chunker
    from kbqa.config import ChunkConfig, EmbedConfig
    from kbqa.embed import load_encoder
    from kbqa.tune.pairs import build_triplets

    work = open_work(out, {"recipe": asdict(recipe), "base_model": base_model, "data": data})

    def make() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        # negatives are mined with the recipe's bi-encoder (and BM25), whatever the reranker's base
        encoder = load_encoder(EmbedConfig(model=recipe.miner, precision="bf16"))
        chunker = Chunker(ChunkConfig(), encoder.tokenizer, encoder.max_tokens)
        return build_triplets(
            encoder, chunker, sources=recipe.sources, data=data, max_pairs=recipe.max_queries, seed=recipe.seed,
            mine_index=mine_index, negatives=recipe.negatives,
        )

    rows, info = cached_rows(work, "groups", make)
    return [r if "negatives" in r else {**r, "negatives": [r["negative"]]} for r in rows], info


def train_reranker(
    out: str | Path,
    *,
    recipe: RerankerRecipe = RerankerRecipe(),
    base_model: str = "kbqa-medical-minilm",
    data: dict[str, str] | None = None,
    mine_index: dict[str, str] | None = None,
    checkpoint_every: int = 25,
    progress: bool = True,
) -> dict[str, Any]:
    """Mine query groups, fine-tune a cross-encoder from ``base_model`` and save it (fp16) in ``out``."""
    import torch

    from kbqa.embed import resolve_model
    from kbqa.train_loop import LoopSettings, check_schedule, identity_pooler, train_loop
    from kbqa.tune.pairs import DEFAULT_DATA

    if recipe.negatives < 1 or recipe.batch_size < 1 or recipe.epochs < 1 or recipe.max_queries < 1:
        raise KbqaError("negatives, batch size, epochs and max queries must all be >= 1")
    if recipe.pooler_init not in ("keep", "identity"):
        raise KbqaError(f"pooler_init must be keep or identity, got {recipe.pooler_init!r}")
    if recipe.precision not in ("fp32", "bf16"):
        raise KbqaError(f"precision must be fp32 or bf16, got {recipe.precision!r}")
    check_schedule(recipe.schedule)
    out = Path(out)
    data = {**DEFAULT_DATA, **(data or {})}
    started = time.time()
    rows, info = _rows(out, recipe, base_model, data, mine_index)
    if not rows:
        raise KbqaError("no training queries with negatives: check the data paths (--data NAME=PATH)")
    plan = [groups(rows, recipe.batch_size, recipe.seed, epoch) for epoch in range(recipe.epochs)]
    work = out / "work"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(recipe.seed)  # the new relevance head is initialised from torch's generator
    model = load_cross_encoder(resolve_model(base_model), max_length=recipe.max_length, device=device)
    if recipe.pooler_init == "identity":  # a resumed run then loads its checkpoint's weights over it
        identity_pooler(model.model)

    def batch_loss(epoch: int, b: int) -> Any:
        batch = [rows[i] for i in plan[epoch][b]]
        pairs = [(r["query"], p) for r in batch for p in [r["positive"], *r["negatives"]]]
        inputs = model.preprocess(pairs)
        inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=recipe.precision == "bf16"):
            logits = model(inputs)["scores"].view(-1).float()
        losses, start = [], 0
        for r in batch:  # the positive is first in its group
            n = 1 + len(r["negatives"])
            losses.append(torch.nn.functional.cross_entropy(logits[start:start + n].unsqueeze(0),
                                                            torch.zeros(1, dtype=torch.long, device=logits.device)))
            start += n
        return torch.stack(losses).mean()

    settings = LoopSettings(lr=recipe.lr, head_lr=recipe.head_lr, weight_decay=recipe.weight_decay,
                            schedule=recipe.schedule, warmup_ratio=recipe.warmup, seed=recipe.seed,
                            checkpoint_every=checkpoint_every, desc="train reranker", progress=progress)
    state = train_loop(model, [len(p) for p in plan], batch_loss, settings, checkpoint=work / "checkpoint",
                       run_key={"recipe": asdict(recipe), "base_model": base_model, "queries": len(rows)})
    model.max_seq_length = recipe.inference_max_length
    model.half()
    model.save(str(out), safe_serialization=True, create_model_card=False)
    counts = {"queries": len(rows), "pairs_per_epoch": sum(1 + len(r["negatives"]) for r in rows), "steps": state.step}
    return write_summary(out, base_model=base_model, recipe=recipe, counts=counts, state=state, started=started,
                         device=device, info=info)
