"""Fusion against hand-computed cases; dense/lexical/hybrid through the KnowledgeBase."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_config

from kbqa.config import SearchConfig
from kbqa.errors import KbqaError
from kbqa.pipeline import KnowledgeBase
from kbqa.retrieve import fuse_rrf, fuse_scores

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"


def test_rrf_by_hand():
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.1)]
    lexical = [("c", 7.0), ("a", 3.0)]
    fused = dict(fuse_rrf((dense, lexical), (1.0, 1.0), 60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert [cid for cid, _ in fuse_rrf((dense, lexical), (1.0, 1.0), 60)] == ["a", "c", "b"]
    assert [cid for cid, _ in fuse_rrf((dense, lexical), (0.0, 1.0), 60)][:2] == ["c", "a"]


def test_score_fusion_by_hand():
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    lexical = [("c", 10.0), ("b", 5.0), ("a", 0.0)]
    fused = dict(fuse_scores((dense, lexical), (1.0, 2.0)))
    assert fused["a"] == pytest.approx(1.0 + 0.0)
    assert fused["b"] == pytest.approx(0.5 + 2 * 0.5)
    assert fused["c"] == pytest.approx(0.0 + 2 * 1.0)


def test_bad_search_settings():
    with pytest.raises(KbqaError, match="mode"):
        SearchConfig(mode="magic")
    with pytest.raises(KbqaError, match="fusion"):
        SearchConfig(fusion="max")


@pytest.fixture(scope="module")
def kb(tiny_encoder_dir, tmp_path_factory):
    cfg = tiny_config(tiny_encoder_dir, small_chunks=False)
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("r") / "idx", cfg, progress=False)


def test_modes_share_one_result_shape(kb):
    lexical = kb.with_search(mode="lexical").search("warfarin amiodarone", k=5)
    assert lexical[0].doc_id == "d4" and all(h.score > 0 for h in lexical)  # only chunks sharing a term
    hybrid = kb.with_search(mode="hybrid").search("warfarin amiodarone", k=3)
    assert hybrid[0].doc_id == "d4" and len(hybrid) == 3  # the random tiny encoder alone would not know
    assert kb.config.search.mode == SearchConfig().mode != "lexical"  # with_search leaves the original alone


def test_lexical_side_respects_filters(kb):
    lexical = kb.with_search(mode="lexical")
    assert lexical.search("vitamin fractures", k=5) == []  # the only match is retracted
    assert lexical.search("vitamin fractures", k=5, filters={"include_retracted": True})[0].doc_id == "5"
    hybrid = kb.with_search(mode="hybrid").search("warfarin", k=10, filters={"year_min": 2015})
    assert hybrid and all(h.meta["year"] >= 2015 for h in hybrid)


def test_with_lexical_adds_bm25_to_a_version_built_without(kb, tiny_encoder_dir, tmp_path):
    assert kb.with_lexical() is kb  # the stored side is used as it is
    cfg = tiny_config(tiny_encoder_dir, small_chunks=False, index={"lexical": False})
    bare = KnowledgeBase.build([DOCS], tmp_path / "idx", cfg, progress=False)
    assert bare.lexical is None
    added = bare.with_lexical()
    assert bare.lexical is None and sorted(added.lexical.ids) == sorted(kb.lexical.ids)
    query = "warfarin amiodarone"
    assert added.with_search(mode="lexical").search(query, k=5) == kb.with_search(mode="lexical").search(query, k=5)
