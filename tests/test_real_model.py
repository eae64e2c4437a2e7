"""The bundled all-MiniLM-L6-v2 and the default embedder, for real: retrieval quality sanity and the
default pipeline (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.config import BUNDLED_EMBEDDER, DEFAULT_EMBEDDER, Config, EmbedConfig, SearchConfig
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
pytestmark = pytest.mark.slow
QUERIES = [
    ("Which drug interaction with warfarin raises the INR?", "d4"),
    ("Is aspirin useful to prevent heart attacks?", "d2"),
    ("Should nurses get a flu shot every year?", "d7"),
    ("metformin side effects in kidney disease", "d1"),
]


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> KnowledgeBase:
    # dense search: these check the model; on 8 documents BM25 (hybrid) is swayed by words like "should"
    config = Config(embed=EmbedConfig(model=BUNDLED_EMBEDDER), search=SearchConfig(mode="dense"))
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("real") / "idx", config, progress=False)


@pytest.fixture(scope="module")
def default_kb(tmp_path_factory) -> KnowledgeBase:
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("default") / "idx", progress=False)


def test_default_embedder_is_recorded_and_retrieves(default_kb, kb):
    from kbqa.embed import resolve_model, weights_checksum

    emb = default_kb.manifest["embedder"]
    assert emb["name"] == DEFAULT_EMBEDDER and emb["dim"] == 384
    assert emb["weights_sha256"] == weights_checksum(resolve_model(DEFAULT_EMBEDDER))
    dense = default_kb.with_search(mode="dense")
    for query, doc_id in QUERIES:
        assert dense.search(query, k=1)[0].doc_id == doc_id
    assert default_kb.search(QUERIES[0][0], k=1)[0].doc_id == "d4"  # the default (hybrid) search
    # an index built by the bundled model still loads with it, whatever the default is now
    again = KnowledgeBase.load(kb.index_dir)
    assert again.manifest["embedder"]["name"] == BUNDLED_EMBEDDER
    assert again.search(QUERIES[0][0], k=1)[0].doc_id == "d4"


@pytest.mark.parametrize("query,doc_id", QUERIES)
def test_minilm_finds_the_right_document(kb, query, doc_id):
    assert kb.search(query, k=1)[0].doc_id == doc_id


def test_manifest_names_the_bundled_model(kb):
    emb = kb.manifest["embedder"]
    assert emb["name"] == "all-MiniLM-L6-v2" and emb["dim"] == 384 and emb["max_seq_length"] == 256
    assert len(emb["weights_sha256"]) == 64


def test_real_pubmedqa_sample_through_the_recipe(shared_data, tmp_path):
    kb = KnowledgeBase.build(["pubmedqa"], tmp_path / "pq", mirror=shared_data, progress=False)
    assert kb.manifest["counts"]["documents"] == 500
    hit = kb.search("Can tailored interventions increase mammography use among HMO women?", k=1)[0]
    assert hit.doc_id == "10808977" and hit.meta["pmid"] == "10808977"
