"""The Ray Data build on a local Ray instance equals the single-process build (slow: starts Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config, tiny_config_toml

from kbqa.cli import main
from kbqa.pipeline import KnowledgeBase

DATA = Path(__file__).parent / "data"
SOURCES = [DATA / "kb" / "docs.jsonl", DATA / "corpus" / "pubmed_sample.xml"]
QUERIES = ["warfarin bleeding", "statin muscle pain", "influenza vaccine", "metformin kidney", "aspirin heart attack"]


@pytest.mark.slow
def test_ray_build_equals_the_local_build(tiny_encoder_dir, tmp_path):
    ray = pytest.importorskip("ray", reason="the Ray path needs the extra: pip install 'kbqa[dist]'")
    cfg = tiny_config(tiny_encoder_dir)
    local = KnowledgeBase.build(SOURCES, tmp_path / "local", cfg, progress=False)
    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(tiny_config_toml(tiny_encoder_dir))
    # two CPUs: one for the embedding actor, one for the read tasks feeding it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        args = ["index", "build", *map(str, SOURCES), "--index", str(tmp_path / "ray"), "--config", str(cfg_file)]
        assert main([*args, "--engine", "ray", "--quiet"]) == 0
        assert main([*args, "--engine", "ray", "--quiet"]) != 0  # an existing index is refused, as locally
    finally:
        ray.shutdown()
    dist = KnowledgeBase.load(tmp_path / "ray")
    a, b = tmp_path / "local" / local.version, tmp_path / "ray" / dist.version
    for name in ("documents.jsonl", "chunks.jsonl", "ids.json"):
        assert (a / name).read_text() == (b / name).read_text(), name
    assert np.allclose(np.load(a / "vectors.npy"), np.load(b / "vectors.npy"), atol=1e-5)
    assert dist.manifest["counts"] == local.manifest["counts"]
    assert dist.manifest["engine"]["name"] == "ray" and dist.manifest["index"] == local.manifest["index"]
    assert not list((tmp_path / "ray").rglob("shards"))  # the embedding shards are gone once committed
    for q in QUERIES:
        assert [h.chunk_id for h in dist.search(q, 5)] == [h.chunk_id for h in local.search(q, 5)]
