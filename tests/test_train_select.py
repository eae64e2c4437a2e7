"""kbqa.read.train: class weights and model selection by micro-F1 over the positive labels (DDI measure)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kbqa.errors import KbqaError
from kbqa.read.classifier import Example
from kbqa.read.train import TrainParams, class_weights, classification_metrics, train_classifier

LABELS = ["none", "a", "b"]


def test_class_weights_balanced_sqrt_none() -> None:
    train = [Example("x", None, lab) for lab in ["none"] * 8 + ["a"] * 2 + ["b"] * 2]
    balanced = class_weights(train, LABELS, "balanced")
    assert balanced == pytest.approx([12 / 24, 12 / 6, 12 / 6])
    assert class_weights(train, LABELS, "sqrt") == pytest.approx([math.sqrt(w) for w in balanced])
    assert class_weights(train, LABELS, "none") == [1.0, 1.0, 1.0]
    # a label absent from training keeps weight 1 rather than dividing by zero
    assert class_weights(train[:8], LABELS, "sqrt")[1:] == [1.0, 1.0]
    with pytest.raises(KbqaError, match="class weights"):
        class_weights(train, LABELS, "inverse")


def test_micro_f1_ignores_the_negative_label() -> None:
    gold = [0, 0, 0, 1, 1, 2]
    pred = [0, 1, 0, 1, 2, 0]
    m = classification_metrics(gold, pred, LABELS, negative_label="none")
    # positives: tp 1 (a), fp 2 (a on a none, b on an a), fn 2 (a->b, b->none)
    assert m["micro_precision"] == pytest.approx(1 / 3) and m["micro_recall"] == pytest.approx(1 / 3)
    assert m["micro_f1"] == pytest.approx(1 / 3)
    assert m["accuracy"] == pytest.approx(3 / 6)  # the negatives count in accuracy, not in micro_f1
    assert "micro_f1" not in classification_metrics(gold, pred, LABELS)  # the reader's metrics are unchanged
    with pytest.raises(KbqaError, match="negative_label"):
        classification_metrics(gold, pred, LABELS, negative_label="other")


def test_select_metric_validation() -> None:
    assert TrainParams().select_metric == "macro_f1" and TrainParams().negative_label is None
    with pytest.raises(KbqaError, match="negative_label"):
        TrainParams(select_metric="micro_f1")
    with pytest.raises(KbqaError, match="select_metric"):
        TrainParams(select_metric="f2")
    with pytest.raises(KbqaError, match="negative_weight"):
        TrainParams(negative_weight=0)


def _rows() -> list[Example]:
    rows = [("aspirin clearly raises levels", "a"), ("rest clearly raises levels", "a"),
            ("sugar never lowers anything", "b"), ("tea never lowers anything", "b")]
    rows += [(f"word{i} is mentioned here", "none") for i in range(8)]
    return [Example(t, None, y) for t, y in rows]


def test_training_selects_the_epoch_by_micro_f1(tiny_bert_dir: Path, tmp_path: Path) -> None:
    params = TrainParams(epochs=3, lr=5e-3, batch_size=4, max_length=16, warmup_ratio=0.0, progress=False,
                         class_weights="sqrt", select_metric="micro_f1", negative_label="none", negative_weight=2.0)
    metrics = train_classifier(_rows(), _rows(), LABELS, tiny_bert_dir, tmp_path / "m", params)
    info = json.loads((tmp_path / "m" / "kbqa_train.json").read_text())
    scores = [h["dev"]["micro_f1"] for h in info["history"]]
    assert metrics["epoch"] == info["best_epoch"] == 1 + scores.index(max(scores))  # first best epoch kept
    assert metrics["micro_f1"] == max(scores)
    with pytest.raises(KbqaError, match="negative_label 'nil'"):
        train_classifier(_rows(), None, LABELS, tiny_bert_dir, tmp_path / "x",
                         TrainParams(select_metric="micro_f1", negative_label="nil", progress=False))


def test_negative_weight_shifts_dev_predictions_to_the_negative(tiny_bert_dir: Path, tmp_path: Path) -> None:
    params = TrainParams(epochs=1, lr=5e-3, batch_size=4, max_length=16, warmup_ratio=0.0, progress=False,
                         select_metric="micro_f1", negative_label="none", negative_weight=1e9)
    metrics = train_classifier(_rows(), _rows(), LABELS, tiny_bert_dir, tmp_path / "m", params)
    assert metrics["micro_recall"] == 0.0 and metrics["confusion"][1][0] == 2  # every "a" predicted none


def test_interrupted_training_resumes_to_the_same_weights(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.numpy import load_file

    import kbqa.read.train as train_mod

    params = TrainParams(epochs=3, lr=5e-3, batch_size=4, max_length=16, progress=False, class_weights="sqrt",
                         select_metric="micro_f1", negative_label="none")
    train_classifier(_rows(), _rows(), LABELS, tiny_bert_dir, tmp_path / "full", params)

    real_logits, calls = train_mod.batch_logits, []

    def crash_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_logits(*args, **kwargs)

    ckpt = tmp_path / "run.ckpt"
    monkeypatch.setattr(train_mod, "batch_logits", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(_rows(), _rows(), LABELS, tiny_bert_dir, tmp_path / "run", params, checkpoint_dir=ckpt)
    assert json.loads((ckpt / "state.json").read_text())["state"]["epoch"] == 1 and not (tmp_path / "run").exists()
    monkeypatch.setattr(train_mod, "batch_logits", real_logits)
    train_classifier(_rows(), _rows(), LABELS, tiny_bert_dir, tmp_path / "run", params, checkpoint_dir=ckpt)
    assert not ckpt.exists()
    full = json.loads((tmp_path / "full" / "kbqa_train.json").read_text())
    run = json.loads((tmp_path / "run" / "kbqa_train.json").read_text())
    assert [h["train_loss"] for h in run["history"]] == pytest.approx([h["train_loss"] for h in full["history"]])
    a, b = load_file(str(tmp_path / "full" / "model.safetensors")), load_file(str(tmp_path / "run" / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_checkpoint_of_another_run_is_ignored(tiny_bert_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "c"
    ckpt.mkdir()
    (ckpt / "state.json").write_text('{"run_key": {}}')  # another run's (and no tensors)
    params = TrainParams(epochs=1, lr=5e-3, batch_size=4, max_length=16, progress=False)
    train_classifier(_rows(), None, LABELS, tiny_bert_dir, tmp_path / "m", params, checkpoint_dir=ckpt)
    assert "starting afresh" in capsys.readouterr().err and (tmp_path / "m" / "config.json").is_file()


def test_average_last_saves_the_mean_of_the_last_epochs(tiny_bert_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.numpy import load_file

    import kbqa.read.train as train_mod

    real_logits, states = train_mod.batch_logits, []

    def record_state(model, *args, **kwargs):  # called once per epoch on dev, then once on the mean
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real_logits(model, *args, **kwargs)

    monkeypatch.setattr(train_mod, "batch_logits", record_state)
    params = TrainParams(epochs=3, lr=5e-3, batch_size=4, max_length=16, warmup_ratio=0.0, progress=False,
                         average_last=2)
    metrics = train_classifier(_rows(), _rows(), LABELS, tiny_bert_dir, tmp_path / "m", params)
    assert len(states) == 4 and metrics["averaged_epochs"] == [2, 3] and metrics["epoch"] == 3
    name = "classifier.weight"
    mean = (states[1][name] + states[2][name]) / 2
    assert not (states[1][name] == states[2][name]).all()  # the two epochs differ, so the mean is a third state
    assert (states[3][name] - mean).abs().max() < 1e-6  # the dev figures returned are the mean's own
    saved = load_file(str(tmp_path / "m" / "model.safetensors"))[name]
    assert abs(saved.astype("float32") - mean.numpy()).max() < 1e-2  # saved as fp16
    with pytest.raises(KbqaError, match="average_last"):
        TrainParams(epochs=2, average_last=3)
