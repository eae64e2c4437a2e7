"""kbqa.train_loop: the one loop every fine-tuned model trains with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.errors import KbqaError
from kbqa.train_loop import LoopSettings, LoopState, train_loop, weights_copy

torch = pytest.importorskip("torch")


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(4, 8)
        self.drop = torch.nn.Dropout(0.3)
        self.classifier = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.classifier(self.drop(torch.relu(self.body(x))))


def _data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 4, generator=g)
    return x, (x[:, 0] > 0).long()


def _run(model, settings, folder=None, crash_at=None, on_epoch_end=None, epochs=(3, 3, 3)):
    x, y = _data()
    calls = []

    def batch_loss(epoch: int, b: int):
        calls.append((epoch, b))
        if crash_at is not None and len(calls) == crash_at:
            raise KeyboardInterrupt
        rows = slice(b * 8, b * 8 + 8)
        return torch.nn.functional.cross_entropy(model(x[rows]), y[rows])

    state = train_loop(model, list(epochs), batch_loss, settings, checkpoint=folder, run_key={"run": 1},
                       on_epoch_end=on_epoch_end)
    return state, calls


def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, capsys) -> None:
    settings = LoopSettings(lr=0.05, head_lr=0.1, checkpoint_every=2, progress=False)
    full, _ = _run(Net(), settings)
    model = Net()
    with pytest.raises(KeyboardInterrupt):
        _run(model, settings, tmp_path / "ckpt", crash_at=6)  # in epoch 2, after the step-4 checkpoint
    assert "rerun the same command to resume" in capsys.readouterr().err
    saved = json.loads((tmp_path / "ckpt" / "state.json").read_text())["state"]
    assert (saved["epoch"], saved["batch"], saved["step"]) == (1, 1, 4)
    # nothing but JSON and safetensors: no pickles
    assert {f.suffix for f in (tmp_path / "ckpt").iterdir()} == {".json", ".safetensors"}
    model = Net()
    resumed, calls = _run(model, settings, tmp_path / "ckpt")
    assert calls[0] == (1, 1) and len(calls) == 5  # it picked up at the batch after the checkpoint
    assert resumed.losses == full.losses and resumed.step == full.step == 9
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert "resumed from" in capsys.readouterr().err


def test_kept_weights_and_history_survive_a_resume(tmp_path: Path) -> None:
    settings = LoopSettings(lr=0.05, progress=False)
    models: list = []

    def keep_first(epoch, record, state: LoopState) -> None:
        record["dev"] = {"score": -epoch}
        if state.kept is None:
            state.kept, state.kept_tensors = {"epoch": epoch}, weights_copy(models[-1])

    models.append(Net())
    full, _ = _run(models[-1], settings, on_epoch_end=keep_first)
    models.append(Net())
    with pytest.raises(KeyboardInterrupt):
        _run(models[-1], settings, tmp_path / "c", crash_at=8, on_epoch_end=keep_first)  # in epoch 3
    models.append(Net())
    state, _ = _run(models[-1], settings, tmp_path / "c", on_epoch_end=keep_first)
    assert state.kept == {"epoch": 1} and [h["dev"]["score"] for h in state.history] == [-1, -2, -3]
    assert all(torch.equal(state.kept_tensors[k], v) for k, v in full.kept_tensors.items())
    assert not all(torch.equal(state.kept_tensors[k], v) for k, v in models[-1].state_dict().items())


def test_checkpoint_of_another_run_is_ignored(tmp_path: Path, capsys) -> None:
    settings = LoopSettings(lr=0.05, progress=False)
    _run(Net(), settings, tmp_path / "c")
    x, y = _data()
    model = Net()
    state = train_loop(model, [3], lambda e, b: torch.nn.functional.cross_entropy(model(x[:8]), y[:8]), settings,
                       checkpoint=tmp_path / "c", run_key={"run": 2})
    assert state.step == 3 and "other settings or data; starting afresh" in capsys.readouterr().err


def test_schedule_is_a_setting_and_accumulation_counts_optimizer_steps() -> None:
    seen = {}
    for name in ("linear", "constant"):
        model = Net()
        x, y = _data()
        lrs = []

        def batch_loss(epoch, b, model=model, lrs=lrs):
            return torch.nn.functional.cross_entropy(model(x[:8]), y[:8])

        settings = LoopSettings(lr=0.1, schedule=name, warmup_ratio=0.0, grad_accum=2, progress=False)
        state = train_loop(model, [5, 5], batch_loss, settings)
        seen[name] = state
        assert state.step == 6 and len(state.losses) == 6  # ceil(5 / 2) steps per epoch
    with pytest.raises(KbqaError, match="unknown learning-rate schedule 'triangle'.*linear"):
        LoopSettings(lr=0.1, schedule="triangle")
    assert seen["linear"].losses != seen["constant"].losses


def test_bad_settings_are_refused() -> None:
    for bad in ({"lr": 0}, {"lr": 0.1, "warmup_ratio": 1.0}, {"lr": 0.1, "grad_accum": 0}):
        with pytest.raises(KbqaError):
            LoopSettings(**bad)
    with pytest.raises(KbqaError, match="at least one batch"):
        train_loop(Net(), [3, 0], lambda e, b: None, LoopSettings(lr=0.1, progress=False))
