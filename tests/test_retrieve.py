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


# ---- query-length-aware fusion (search.long_query_words / search.lexical_weight_long) -------------
LONG = "my husband takes warfarin and his cardiologist added amiodarone last week, is the bleeding risk higher"
SHORT = "warfarin amiodarone bleeding"


def test_query_words_counts_runs_of_letters_and_digits():
    from kbqa.retrieve import query_words

    assert query_words("Can I take ibuprofen? I'm 45.") == 7  # Can I take ibuprofen I m 45
    assert query_words("  ...  ") == 0
    assert query_words(LONG) == 16 and query_words(SHORT) == 3


def test_long_queries_get_the_long_weight_and_short_ones_the_default():
    from kbqa.retrieve import lexical_weight_for

    cfg = SearchConfig(long_query_words=3, lexical_weight_long=0.1)
    assert lexical_weight_for(SHORT, cfg) == 0.3  # 3 words: not more than 3: the default weight
    assert lexical_weight_for(SHORT + " risk", cfg) == 0.1
    assert lexical_weight_for(LONG, SearchConfig(lexical_weight=0.7)) == 0.7  # off by default: one weight
    assert SearchConfig().long_query_words == 0


@pytest.mark.parametrize("fusion", ["score", "rrf"])
def test_length_aware_fusion_ranks_like_the_long_weight_for_long_queries_only(kb, fusion):
    rule = kb.with_search(mode="hybrid", fusion=fusion, long_query_words=10, lexical_weight_long=4.0)
    plain = kb.with_search(mode="hybrid", fusion=fusion)
    heavy = kb.with_search(mode="hybrid", fusion=fusion, lexical_weight=4.0)
    assert heavy.search(LONG, k=6) != plain.search(LONG, k=6)  # the weight changes this query's scores
    assert rule.search(LONG, k=6) == heavy.search(LONG, k=6)  # 16 words > 10: BM25 at 4
    assert rule.search(SHORT, k=6) == plain.search(SHORT, k=6)  # 3 words: BM25 at the default 0.5
    # a batch mixes both: each query is weighted by its own length
    assert rule.search_many([LONG, SHORT], k=6) == [heavy.search(LONG, k=6), plain.search(SHORT, k=6)]


def test_bad_length_fusion_settings_are_refused_with_the_key(tmp_path):
    from kbqa.config import load_config

    with pytest.raises(KbqaError, match=r"search.long_query_words must be >= 0 \(0 = off\), got -1"):
        SearchConfig(long_query_words=-1)
    with pytest.raises(KbqaError, match=r"search.lexical_weight_long must be >= 0"):
        SearchConfig(lexical_weight_long=-0.2)
    toml = tmp_path / "kbqa.toml"
    toml.write_text('[search]\nlong_query_words = "many"\n')
    with pytest.raises(KbqaError, match=r"kbqa.toml: \[search\] long_query_words"):
        load_config(toml)
    toml.write_text("[search]\nlong_query_words = 30\nlexical_weight_long = 0.2\n")
    cfg = load_config(toml).search
    assert (cfg.long_query_words, cfg.lexical_weight_long, cfg.lexical_weight) == (30, 0.2, 0.3)
