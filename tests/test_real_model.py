"""The bundled all-MiniLM-L6-v2, for real: retrieval quality sanity and the default pipeline (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> KnowledgeBase:
    return KnowledgeBase.build([DOCS], tmp_path_factory.mktemp("real") / "idx", progress=False)


@pytest.mark.parametrize(
    "query,doc_id",
    [
        ("Which drug interaction with warfarin raises the INR?", "d4"),
        ("Is aspirin useful to prevent heart attacks?", "d2"),
        ("Should nurses get a flu shot every year?", "d7"),
        ("metformin side effects in kidney disease", "d1"),
    ],
)
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
