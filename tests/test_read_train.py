"""The generic classifier fine-tuning loop on a tiny random BERT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kbqa.errors import KbqaError
from kbqa.read.classifier import Example, SequenceClassifier
from kbqa.read.train import TrainParams, train_classifier

LABELS = ["yes", "no", "maybe"]


def _examples() -> list[Example]:
    # Separable by a single word so a tiny model can fit it in a few steps.
    rows = [
        ("does aspirin help", "aspirin clearly helps patients", "yes"),
        ("does rest help", "rest clearly helps patients", "yes"),
        ("does sugar help", "sugar never helps anyone", "no"),
        ("does smoking help", "smoking never helps anyone", "no"),
        ("does tea help", "tea perhaps helps some", "maybe"),
        ("does yoga help", "yoga perhaps helps some", "maybe"),
    ]
    return [Example(q, c, y) for q, c, y in rows]


@pytest.fixture(scope="module")
def trained(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cls") / "model"
    params = TrainParams(epochs=4, lr=5e-3, batch_size=3, max_length=32, warmup_ratio=0.0, progress=False)
    metrics = train_classifier(_examples(), _examples(), LABELS, tiny_bert_dir, out, params, metadata={"task": "test"})
    return out, metrics


def test_training_saves_a_complete_pickle_free_folder(trained: tuple[Path, dict]) -> None:
    out, metrics = trained
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "kbqa_train.json", "dev_metrics.json"} <= names
    assert not any(n.endswith((".bin", ".pkl", ".pt")) for n in names)
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "yes", "1": "no", "2": "maybe"}
    info = json.loads((out / "kbqa_train.json").read_text())
    assert info["labels"] == LABELS and info["metadata"] == {"task": "test"}
    assert len(info["data"]["train"]["sha256"]) == 64
    losses = [h["train_loss"] for h in info["history"]]
    assert losses[-1] < losses[0]  # the loop learns
    assert metrics["epoch"] == info["best_epoch"]
    assert json.loads((out / "dev_metrics.json").read_text())["macro_f1"] == pytest.approx(metrics["macro_f1"])
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "np") as f:
        assert all(f.get_tensor(k).dtype == np.float16 for k in list(f.keys())[:5])


def test_reload_gives_the_kept_epochs_predictions(trained: tuple[Path, dict]) -> None:
    out, metrics = trained
    clf = SequenceClassifier.load(out)
    assert clf.labels == LABELS
    pairs = [(e.text, e.text_pair) for e in _examples()]
    p1 = clf.predict_proba(pairs, batch_size=4)
    p2 = SequenceClassifier.load(out).predict_proba(pairs, batch_size=2)
    assert p1.shape == (6, 3)
    np.testing.assert_allclose(p1.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p1, p2, atol=1e-5)  # batching and reload do not change predictions
    acc = float(np.mean(p1.argmax(1) == [LABELS.index(e.label) for e in _examples()]))
    assert acc == pytest.approx(metrics["accuracy"], abs=0.34)  # fp16 save may flip at most a near tie


def test_same_seed_same_model(tiny_bert_dir: Path, tmp_path: Path) -> None:
    params = TrainParams(epochs=1, lr=1e-3, batch_size=2, max_length=32, progress=False)
    pairs = [(e.text, e.text_pair) for e in _examples()]
    probs = []
    for name in ("a", "b"):
        train_classifier(_examples(), None, LABELS, tiny_bert_dir, tmp_path / name, params)
        probs.append(SequenceClassifier.load(tmp_path / name).predict_proba(pairs))
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)


def test_unknown_label_names_the_example(tiny_bert_dir: Path, tmp_path: Path) -> None:
    bad = _examples() + [Example("is it so", "ctx", "perhaps")]
    with pytest.raises(KbqaError, match=r"train example 6 .*'perhaps'"):
        train_classifier(bad, None, LABELS, tiny_bert_dir, tmp_path / "m", TrainParams(progress=False))
    assert not (tmp_path / "m").exists()


def test_bad_params_rejected() -> None:
    with pytest.raises(KbqaError, match="class_weights"):
        TrainParams(class_weights="inverse")
    with pytest.raises(KbqaError, match="select_metric"):
        TrainParams(select_metric="f1")
    from kbqa.read.train_recipe import ReaderRecipe

    with pytest.raises(KbqaError, match="last phase's 8 epochs"):  # refused before any training starts
        ReaderRecipe(phase1_epochs=8, average_last=9)
    assert ReaderRecipe(epochs=2, phase1_epochs=8, average_last=2).average_last == 2


def test_incomplete_or_mismatched_folder_refused(trained: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(KbqaError, match="missing.*model.safetensors"):
        SequenceClassifier.load(broken)
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    config = json.loads((mixed / "config.json").read_text())
    config["id2label"] = {"0": "no", "1": "yes", "2": "maybe"}
    (mixed / "config.json").write_text(json.dumps(config))
    with pytest.raises(KbqaError, match="inconsistent label map"):
        SequenceClassifier.load(mixed)
    with pytest.raises(KbqaError, match="does not exist"):
        SequenceClassifier.load(tmp_path / "nowhere")


def test_identity_pooler_restart(tiny_bert_dir: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from kbqa.train_loop import identity_pooler

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=3)
    identity_pooler(model)
    dense = model.base_model.pooler.dense
    assert torch.equal(dense.weight, torch.eye(32)) and not dense.bias.any()
    with pytest.raises(KbqaError, match="pooler_init"):
        TrainParams(pooler_init="zeros")


def test_inference_precision_bf16_close_to_fp32_and_auto_follows_the_hardware(
    trained: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kbqa import precision

    out, _ = trained
    pairs = [(e.text, e.text_pair) for e in _examples()]
    fp32 = SequenceClassifier.load(out, precision="fp32")
    bf16 = SequenceClassifier.load(out, precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    a, b = fp32.predict_proba(pairs), bf16.predict_proba(pairs)
    assert not np.array_equal(a, b)  # bf16 really ran: low-order bits differ
    assert np.abs(a - b).max() < 0.05 and (a.argmax(1) == b.argmax(1)).all()
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512_bf16", "amx_bf16"})
    auto = SequenceClassifier.load(out, precision="auto")
    assert (auto.precision, auto.precision_reason) == ("bf16", "amx")
    monkeypatch.setattr(precision, "cpu_flags", lambda: set())
    monkeypatch.setattr(precision, "native_bf16", lambda flags: False)
    assert SequenceClassifier.load(out, precision="auto").precision == "fp32"
    with pytest.raises(KbqaError, match="precision must be one of auto, fp32, bf16"):
        SequenceClassifier.load(out, precision="fp16")


def test_light_classifier_equals_transformers(trained: tuple[Path, dict]) -> None:
    from kbqa.read.classifier import tokenize_pairs

    out, _ = trained
    pairs = [(e.text, e.text_pair) for e in _examples()] + [("a question?", "a passage " * 200), ("only a question", None)]
    light = SequenceClassifier.load(out, precision="fp32", light=True)
    full = SequenceClassifier.load(out, precision="fp32")
    assert type(light.model).__module__ == "kbqa.bert" and type(full.model).__module__ != "kbqa.bert"
    for n in (16, light.max_length):
        assert tokenize_pairs(light.tokenizer, pairs, n) == tokenize_pairs(full.tokenizer, pairs, n)
    assert np.abs(light.predict_logits(pairs) - full.predict_logits(pairs)).max() < 1e-5
