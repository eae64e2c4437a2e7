"""A CLI that starts in seconds: lazy imports, the light encoder, and ``auto`` precision."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kbqa.errors import KbqaError

ROOT = Path(__file__).resolve().parents[1]
DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
TEXTS = [
    "Metformin and lactic acidosis in patients with renal impairment.",
    "Aspirin reduces the risk of stroke. " * 60,  # longer than max_seq_length: truncated alike
    "Is laparoscopic cholecystectomy safe in elderly patients?",
    "x",
]
# what `kbqa search` must not import (the reader, the DDI model, the web and plotting stacks, and
# sentence-transformers / transformers for a plain BERT embedder)
NOT_FOR_SEARCH = ["kbqa.read", "kbqa.ddi", "kbqa.tune", "fastapi", "matplotlib", "sentence_transformers",
                  "transformers", "sklearn", "peft"]


@pytest.fixture(scope="module")
def tiny_index(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kbqa.config import Config
    from kbqa.pipeline import KnowledgeBase

    cfg = Config().replace(embed={"model": str(tiny_encoder_dir), "precision": "fp32"}, chunk={"size": 48, "overlap": 8})
    idx = tmp_path_factory.mktemp("cold") / "idx"
    KnowledgeBase.build([DOCS], idx, cfg, progress=False)
    return idx


def run_cli(args: list[str], tmp_path: Path) -> tuple[dict, str]:
    """``kbqa ARGS`` through the CLI entry point in a fresh interpreter: (its imports, its stderr)."""
    probe = (
        "import json, os, sys\n"
        "from kbqa.cli import main\n"
        "rc = main()\n"  # as the console script calls it: arguments from sys.argv
        f"json.dump({{'rc': rc, 'modules': sorted(sys.modules), 'threads': os.environ.get('OMP_NUM_THREADS'), "
        f"'quiet': os.environ.get('HF_HUB_DISABLE_PROGRESS_BARS')}}, "
        f"open({str(tmp_path / 'mods.json')!r}, 'w'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "KBQA_CACHE": str(tmp_path / "cache")}
    for name in ("OMP_NUM_THREADS", "HF_HUB_DISABLE_PROGRESS_BARS"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "mods.json").read_text()), done.stderr


def test_search_imports_neither_reader_nor_ddi_nor_heavy_stacks(tiny_index: Path, tmp_path: Path) -> None:
    out, stderr = run_cli(["search", "--index", str(tiny_index), "aspirin stroke", "--json"], tmp_path)
    assert out["rc"] == 0
    loaded = [m for m in NOT_FOR_SEARCH if m in out["modules"] or any(k.startswith(m + ".") for k in out["modules"])]
    assert loaded == []
    assert "torch" in out["modules"]  # the query really was embedded
    assert "Loading weights" not in stderr and "it/s" not in stderr  # no progress bars without --verbose
    assert 1 <= int(out["threads"]) <= os.cpu_count()  # sized to the idle cores
    assert out["quiet"] == "1"  # transformers' and the hub's bars, should a model load through them
    verbose, _ = run_cli(["search", "--index", str(tiny_index), "aspirin", "--verbose"], tmp_path)
    assert verbose["rc"] == 0 and verbose["quiet"] is None


def test_threads_for_idle_cores(tmp_path: Path) -> None:
    from kbqa.cli import threads_for_idle_cores

    cores = len(os.sched_getaffinity(0))
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("0.10 0.20 0.30 1/120 4242\n")  # only this process runs
    assert threads_for_idle_cores(str(loadavg)) == cores
    loadavg.write_text(f"3.00 3.00 3.00 {cores + 2}/120 4242\n")  # every core busy with other jobs
    assert threads_for_idle_cores(str(loadavg)) == 1
    assert threads_for_idle_cores(str(tmp_path / "missing")) == cores


def test_verbose_is_accepted_before_and_after_the_command(tiny_index: Path) -> None:
    from kbqa.cli import build_parser

    assert build_parser(["--verbose", "search"]).parse_args(["--verbose", "search", "q", "--index", "x"]).verbose
    args = build_parser(["search"]).parse_args(["search", "q", "--index", "x", "--verbose"])
    assert args.verbose and args.command == "search"
    assert not build_parser(["search"]).parse_args(["search", "q", "--index", "x"]).verbose


def test_light_encoder_equals_sentence_transformers(tiny_encoder_dir: Path) -> None:
    from kbqa.config import EmbedConfig
    from kbqa.embed import LightEncoder, SentenceTransformerEncoder, load_encoder

    cfg = EmbedConfig(model=str(tiny_encoder_dir), precision="fp32")
    light, full = load_encoder(cfg), SentenceTransformerEncoder.load(cfg)
    assert isinstance(light, LightEncoder)
    assert light.identity() == full.identity()  # indexes built by one load with the other
    assert (light.dim, light.max_tokens) == (full.dim, full.max_tokens)
    ids = [e.ids for e in light.fast_tokenizer.encode_batch(TEXTS)]
    assert ids == [full.tokenizer(t, truncation=True, max_length=full.max_seq_length)["input_ids"] for t in TEXTS]
    assert np.abs(light.encode_passages(TEXTS) - full.encode_passages(TEXTS)).max() < 1e-5
    assert np.abs(light.encode_queries(TEXTS[:1]) - full.encode_queries(TEXTS[:1])).max() < 1e-5
    assert light.encode_passages([]).shape == (0, light.dim)
    assert light.tokenizer.tokenize("aspirin") == full.tokenizer.tokenize("aspirin")  # the chunker's tokenizer


def test_other_pipelines_fall_back_to_sentence_transformers(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from kbqa.embed import plain_pipeline

    assert plain_pipeline(str(tiny_encoder_dir)) is not None
    cls_pooled = tmp_path / "cls"
    shutil.copytree(tiny_encoder_dir, cls_pooled)
    pooling = next(cls_pooled.glob("*_Pooling/config.json"))
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "pooling_mode": "cls"}))
    assert plain_pipeline(str(cls_pooled)) is None
    dense = tmp_path / "dense"
    shutil.copytree(tiny_encoder_dir, dense)
    modules = json.loads((dense / "modules.json").read_text())
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (dense / "modules.json").write_text(json.dumps(modules))
    assert plain_pipeline(str(dense)) is None
    assert plain_pipeline(str(tmp_path / "missing")) is None


def test_index_built_in_fp32_is_searched_with_auto(tiny_index: Path, tiny_encoder_dir: Path) -> None:
    from kbqa.config import Config
    from kbqa.embed import SentenceTransformerEncoder
    from kbqa.pipeline import KnowledgeBase

    built = KnowledgeBase.load(tiny_index)
    auto = KnowledgeBase.load(tiny_index, Config().replace(embed={"model": str(tiny_encoder_dir), "precision": "auto"}))
    assert auto.encoder.precision.name in ("fp32", "bf16") and auto.fingerprint == built.fingerprint
    full = KnowledgeBase.load(tiny_index, encoder=SentenceTransformerEncoder.load(built.config.embed))
    q = "aspirin and stroke"
    assert [h.chunk_id for h in full.search(q, 5)] == [h.chunk_id for h in built.search(q, 5)]


def test_auto_precision_decisions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch

    from kbqa import precision

    monkeypatch.setenv("KBQA_CACHE", str(tmp_path))
    assert precision.resolve("fp32", "cpu") == ("fp32", "requested") and str(precision.resolve("bf16")) == "bf16"
    with pytest.raises(KbqaError, match="precision must be one of auto, fp32, bf16"):
        precision.resolve("fp16")
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    assert precision.resolve("auto", "cpu") == ("bf16", "amx")
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert precision.resolve("auto", "cpu") == ("fp32", "no native bf16")

    # AVX512-BF16 without AMX: a timed probe decides, once per machine
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    monkeypatch.setattr(precision, "probe_speedup", lambda: 0.68)
    chosen = precision.resolve("auto", torch.device("cpu"))
    assert chosen == ("fp32", "probe 0.68x") and str(chosen) == "fp32 (probe 0.68x)"
    cache = json.loads(precision.cache_path().read_text())
    assert [v["speedup"] for v in cache.values()] == [0.68]

    def no_probe() -> float:
        raise AssertionError("the cached result should be used")

    monkeypatch.setattr(precision, "probe_speedup", no_probe)
    assert precision.resolve("auto", "cpu") == ("fp32", "probe 0.68x")
    precision.cache_path().write_text("{not json")  # a damaged cache is probed again and rewritten
    monkeypatch.setattr(precision, "probe_speedup", lambda: 1.8)
    assert precision.resolve("auto", "cpu") == ("bf16", "probe 1.80x")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert precision.resolve("auto", "cuda:0") == ("bf16", "cuda")


def test_probe_is_quick_and_reports_a_ratio() -> None:
    import time

    from kbqa.precision import probe_speedup

    probe_speedup()  # first call: library warm-up
    t = time.perf_counter()
    ratio = probe_speedup()
    assert ratio > 0 and time.perf_counter() - t < 2.0  # ~0.1 s idle; generous for a busy CI machine


def test_precision_is_not_decided_at_import() -> None:
    code = ("import sys, kbqa.precision, kbqa.embed, kbqa.config, kbqa.pipeline, kbqa.cli\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "kbqa-medical-minilm"])
def test_light_encoder_equals_sentence_transformers_on_the_real_models(name: str) -> None:
    from kbqa.config import EmbedConfig
    from kbqa.embed import LightEncoder, SentenceTransformerEncoder, load_encoder

    cfg = EmbedConfig(model=name, precision="fp32")
    light, full = load_encoder(cfg), SentenceTransformerEncoder.load(cfg)
    assert isinstance(light, LightEncoder) and light.identity() == full.identity()
    texts = [json.loads(line)["text"] for line in DOCS.read_text().splitlines()] + TEXTS
    assert np.abs(light.encode_passages(texts) - full.encode_passages(texts)).max() < 1e-5


@pytest.mark.slow
def test_light_reader_equals_transformers_on_the_committed_reader() -> None:
    from kbqa.read.classifier import SequenceClassifier
    from kbqa.read.reader import default_reader_dir

    folder = default_reader_dir()
    pairs = [("Does aspirin reduce the risk of stroke?", t) for t in TEXTS] + [("Is metformin safe?", None)]
    light = SequenceClassifier.load(folder, precision="fp32", light=True, max_length=512)
    full = SequenceClassifier.load(folder, precision="fp32", max_length=512)
    assert type(light.model).__module__ == "kbqa.bert"
    assert np.abs(light.predict_logits(pairs) - full.predict_logits(pairs)).max() < 1e-4
