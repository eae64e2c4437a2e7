"""Cross-encoder reranking: mining several negatives, training a tiny reranker (resumable, fp16),
reordering candidates, search with ``search.rerank`` and the CLI flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config

from kbqa.config import SearchConfig
from kbqa.errors import KbqaError
from kbqa.pipeline import KnowledgeBase
from kbqa.rerank import RERANKER_ENV, TUNED_RERANKER, Reranker, resolve_reranker
from kbqa.tune.mining import mine
from kbqa.tune.reranker import RerankerRecipe, groups, train_reranker
from tests.test_tune import DATA, HashEncoder, _claims, _pubmedqa_split, _source


def test_mining_several_negatives_gives_distinct_non_answering_passages():
    rows = mine(_source(), HashEncoder(), 10, seed=0, negatives=3)
    assert {r["qid"] for r in rows} == {"q1", "q2"}
    for r in rows:
        answering = {"a", "a2"} if r["qid"] == "q1" else {"d"}
        assert 1 <= len(r["negatives"]) <= 3 and len(set(r["neg_ids"])) == len(r["neg_ids"])
        assert not {cid.split("#")[0] for cid in r["neg_ids"]} & answering
        assert r["positive"] not in r["negatives"]
        assert all(by in ("bm25", "dense") for by in r["neg_by"])
    assert mine(_source(), HashEncoder(), 10, seed=0, negatives=3) == rows
    # one negative keeps the triplet format the embedder trains on
    assert "negative" in mine(_source(), HashEncoder(), 10, seed=0)[0]


def test_groups_cover_every_row_once_per_epoch():
    plan = groups([{}] * 11, 4, seed=1, epoch=0)
    assert sorted(i for b in plan for i in b) == list(range(11)) and [len(b) for b in plan] == [4, 4, 3]
    assert groups([{}] * 11, 4, seed=1, epoch=0) == plan and groups([{}] * 11, 4, seed=1, epoch=1) != plan


class FakeModel:
    """Scores a pair by how many query words the passage holds."""

    max_seq_length = 64
    num_labels = 1

    class device:
        type = "cpu"

    def predict(self, pairs, **_):
        return np.array([sum(w in p.lower().split() for w in q.lower().split()) for q, p in pairs], dtype=np.float32)


def test_rerank_reorders_the_head_and_keeps_the_tail_below_it():
    rr = Reranker(FakeModel(), "fake", "/nowhere", "fp32")
    ranking = [("c1", 0.9), ("c2", 0.8), ("c3", 0.7), ("c4", 0.6), ("c5", 0.5)]
    texts = ["nothing here", "aspirin stroke", "aspirin", "aspirin stroke prevention", "x"]
    out = rr.rerank("aspirin stroke", ranking, texts, depth=3)
    assert [cid for cid, _ in out] == ["c2", "c3", "c1", "c4", "c5"]
    scores = [s for _, s in out]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    assert scores[3] < scores[2]  # the tail stays below the lowest reranked score, in its own order
    assert rr.rerank("q", [], [], depth=3) == []
    with pytest.raises(KbqaError, match="texts"):
        rr.rerank("q", ranking, texts[:2], depth=3)


def test_search_settings_for_reranking_are_validated():
    with pytest.raises(KbqaError, match="rerank_depth"):
        SearchConfig(rerank="x", rerank_depth=0)
    with pytest.raises(KbqaError, match="rerank_precision"):
        SearchConfig(rerank_precision="int8")


def test_missing_committed_reranker_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv(RERANKER_ENV, str(tmp_path / "missing"))
    with pytest.raises(KbqaError, match="kbqa train reranker"):
        resolve_reranker(TUNED_RERANKER)


@pytest.fixture(scope="module")
def kb(tiny_encoder_dir, tmp_path_factory):
    cfg = tiny_config(tiny_encoder_dir, small_chunks=False)
    return KnowledgeBase.build([DATA / "kb" / "docs.jsonl"], tmp_path_factory.mktemp("r") / "idx", cfg, progress=False)


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory, tiny_encoder_dir):
    import kbqa.tune.pairs as pairs

    tmp = tmp_path_factory.mktemp("rerank")
    old = pairs.DEFAULT_SPLITS["pubmedqa"]
    pairs.DEFAULT_SPLITS["pubmedqa"] = str(_pubmedqa_split(tmp))
    try:
        data = {"pubmedqa": str(DATA / "corpus" / "pubmedqa_sample.json"), "claims": str(_claims(tmp / "claims"))}
        recipe = RerankerRecipe(max_queries=20, negatives=2, batch_size=2, lr=1e-3, max_length=64,
                                inference_max_length=96, sources=("pubmedqa", "claims"), miner=str(tiny_encoder_dir))
        out = tmp / "rr"
        summary = train_reranker(out, recipe=recipe, base_model=str(tiny_encoder_dir), data=data,
                                 checkpoint_every=1, progress=False)
        yield out, summary, recipe, data, tmp
    finally:
        pairs.DEFAULT_SPLITS["pubmedqa"] = old


def test_train_reranker_saves_a_loadable_fp16_cross_encoder_and_resumes(tiny_reranker, tiny_encoder_dir):
    out, summary, recipe, data, tmp = tiny_reranker
    assert summary["queries"] >= 3 and summary["steps"] >= 2
    assert summary["pairs_per_epoch"] > summary["queries"]  # every query has negatives
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pkl"))
    rr = Reranker.load(str(out))
    assert str(next(rr.model.parameters()).dtype) == "torch.float32"
    assert rr.identity()["max_length"] == 96 and rr.identity()["weights_sha256"]
    logits = rr.logits("aspirin", ["aspirin prevents stroke", "the weather"])
    assert logits.shape == (2,) and np.isfinite(logits).all()
    assert np.allclose(Reranker.load(str(out)).logits("aspirin", ["aspirin prevents stroke"]), logits[:1])

    # an interrupted run resumes from its checkpoint and reaches the same weights
    out2 = tmp / "rr2"
    import kbqa.tune.pairs as pairs

    pairs.DEFAULT_SPLITS["pubmedqa"] = str(tmp / "pubmedqa.json")
    train_reranker(out2, recipe=recipe, base_model=str(tiny_encoder_dir), data=data, checkpoint_every=1, progress=False)
    state = json.loads((out2 / "work" / "checkpoint" / "state.json").read_text())["state"]
    assert state["step"] == summary["steps"] and state["epoch"] == recipe.epochs  # checkpointed at the end too
    (out2 / "model.safetensors").unlink()  # lost: rerunning restores it from the checkpoint, training nothing again
    again = train_reranker(out2, recipe=recipe, base_model=str(tiny_encoder_dir), data=data, checkpoint_every=1,
                           progress=False)
    assert again["loss_last_20"] == summary["loss_last_20"]
    assert np.allclose(Reranker.load(str(out2)).logits("aspirin", ["aspirin prevents stroke"]), logits[:1])
    with pytest.raises(KbqaError, match="other settings"):
        train_reranker(out2, recipe=RerankerRecipe(max_queries=3, miner=str(tiny_encoder_dir)),
                       base_model=str(tiny_encoder_dir), data=data, progress=False)


def test_search_with_reranking_reorders_candidates_and_records_the_reranker(tiny_reranker, kb):
    out = tiny_reranker[0]
    reranked = kb.with_search(mode="dense", rerank=str(out), rerank_depth=5)
    hits = reranked.search("aspirin stroke", k=3)
    assert len(hits) == 3
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    top5 = {h.chunk_id for h in kb.with_search(mode="dense").search("aspirin stroke", k=5)}
    assert {h.chunk_id for h in hits} <= top5  # reranked from the first rerank_depth candidates
    rr = reranked.reranker
    texts = {h.chunk_id: h for h in kb.with_search(mode="dense").search("aspirin stroke", k=5)}
    from kbqa.chunk import embed_text

    expect = sorted(top5, key=lambda c: -float(rr.logits("aspirin stroke", [embed_text(kb.chunks[c], kb.config.chunk)])[0]))
    assert [h.chunk_id for h in hits] == expect[:3] and set(texts) == top5
    assert reranked.reranker.identity()["path"] == str(out.resolve())
    assert kb.reranker is None
    from kbqa.read.answer import _reranker

    assert _reranker(reranked)["reranker_sha256"] and _reranker(kb) == {}


def test_cli_search_takes_rerank_flags(tiny_reranker, kb, capsys):
    from kbqa.cli import main

    out = tiny_reranker[0]
    assert main(["search", "--index", str(kb.index_dir), "-k", "2", "--json", "--rerank", str(out),
                 "--rerank-depth", "4", "aspirin stroke"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and all(0 < h["score"] < 1 for h in hits)
    assert main(["search", "--index", str(kb.index_dir), "-k", "2", "--json", "--rerank", "off", "aspirin"]) == 0
    assert main(["search", "--index", str(kb.index_dir), "--rerank", str(Path(out) / "missing"), "aspirin"]) != 0


def test_bad_reranker_recipe_is_refused_before_any_work(tmp_path):
    with pytest.raises(KbqaError, match="pooler_init"):
        train_reranker(tmp_path / "x", recipe=RerankerRecipe(pooler_init="zero"), progress=False)
    with pytest.raises(KbqaError, match="precision"):
        train_reranker(tmp_path / "x", recipe=RerankerRecipe(precision="fp8"), progress=False)
    assert not (tmp_path / "x").exists()


def test_new_head_learns_at_its_own_rate():
    import torch

    from kbqa.train_loop import LoopSettings, param_groups

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = torch.nn.Linear(2, 2)
            self.classifier = torch.nn.Linear(2, 1)

    groups = param_groups(Tiny(), LoopSettings(lr=1e-3, head_lr=1e-2))
    lrs = [(len(g["params"]), g.get("lr"), g["weight_decay"]) for g in groups]
    # encoder weight (decayed), encoder bias (no decay), classifier weight + bias at the head's rate
    assert lrs == [(1, None, 0.01), (1, None, 0.0), (2, 1e-2, 0.01)]
    assert len(param_groups(Tiny(), LoopSettings(lr=1e-3))) == 2  # no head_lr: the head is body


def test_rerank_weight_mixes_in_the_retrieval_order_and_logits_are_cached():
    calls = []

    class Counting(FakeModel):
        def predict(self, pairs, **kw):
            calls.append(len(pairs))
            return super().predict(pairs, **kw)

    rr = Reranker(Counting(), "fake", "/nowhere", "fp32")
    ranking = [("c1", 0.9), ("c2", 0.8), ("c3", 0.1)]
    texts = ["nothing here", "aspirin stroke", "aspirin"]
    assert [c for c, _ in rr.rerank("aspirin stroke", ranking, texts, depth=3, weight=0.0)] == ["c1", "c2", "c3"]
    assert [c for c, _ in rr.rerank("aspirin stroke", ranking, texts, depth=3, weight=1.0)] == ["c2", "c3", "c1"]
    assert calls == [3]  # the second call read every logit from the cache
    rr.cache_clear()
    rr.rerank("aspirin stroke", ranking, texts, depth=2)
    assert calls == [3, 2]
    with pytest.raises(KbqaError, match="rerank_weight"):
        rr.rerank("q", ranking, texts, depth=3, weight=1.5)
    with pytest.raises(KbqaError, match="rerank_weight"):
        SearchConfig(rerank_weight=-0.1)
