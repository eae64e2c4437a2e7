"""Evaluation metrics against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from kbqa.evaluate import metrics as M
from kbqa.evaluate.benchmark import Qrel


def test_retrieval_metrics_hand_computed() -> None:
    qrels = [Qrel("q1", "d1", 1), Qrel("q1", "d2", 2), Qrel("q2", "d3", 1), Qrel("q3", "d1", 0)]
    run = {"q1": [("d2", 0.9), ("d5", 0.8), ("d1", 0.7)], "q2": [("d7", 0.5), ("d8", 0.4), ("d3", 0.3)], "q3": []}
    got = M.retrieval_per_query(qrels, run)
    assert set(got) == {"q1", "q2"}  # q3 has no relevant document: not scored
    idcg = 2 + 1 / math.log2(3)
    assert got["q1"]["nDCG@10"] == pytest.approx((2 + 1 / math.log2(4)) / idcg)
    assert got["q1"]["R@10"] == 1.0 and got["q1"]["RR@10"] == 1.0
    assert got["q2"]["RR@10"] == pytest.approx(1 / 3)
    assert got["q2"]["nDCG@10"] == pytest.approx(1 / math.log2(4))
    assert M.mean_metrics(got, ["RR@10"]) == {"RR@10": pytest.approx((1 + 1 / 3) / 2)}


def test_run_order_breaks_ties_not_doc_ids() -> None:
    qrels = [Qrel("q", "b", 1)]
    got = M.retrieval_per_query(qrels, {"q": [("a", 1.0), ("b", 1.0)]}, ["RR@10", "R@1"])
    assert got["q"] == {"RR@10": 0.5, "R@1": 0.0}


def test_question_missing_from_run_scores_zero() -> None:
    got = M.retrieval_per_query([Qrel("q", "d", 1)], {})
    assert got == {"q": {m: 0.0 for m in M.RETRIEVAL_MEASURES}}


def test_answer_metrics_hand_computed() -> None:
    gold = ["yes", "yes", "no", "maybe"]
    pred = ["yes", "no", "no", "yes"]
    out = M.answer_metrics(gold, pred, [0.9, 0.8, 0.6, 0.3], [False, False, True, False], ["yes", "no", "maybe"])
    assert out["accuracy"] == 0.5
    assert out["per_class"]["yes"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert out["per_class"]["no"]["f1"] == pytest.approx(2 / 3)
    assert out["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    assert out["confusion"] == {"labels": ["yes", "no", "maybe"], "matrix": [[1, 1, 0], [0, 1, 0], [1, 0, 0]]}
    assert out["coverage"] == 0.75
    assert out["selective_accuracy"] == pytest.approx(1 / 3)
    assert out["ece"] == pytest.approx((0.1 + 0.8 + 0.4 + 0.3) / 4)


def test_ece_pools_a_bin() -> None:
    # two answers in the (0.7, 0.8] bin: mean confidence 0.75, accuracy 0.5 -> ECE 0.25
    assert M.expected_calibration_error([0.8, 0.7000001], [True, False]) == pytest.approx(0.25, abs=1e-6)
    assert M.expected_calibration_error([1.0, 1.0], [True, True]) == 0.0


def test_coverage_accuracy_curve() -> None:
    assert [(p["coverage"], p["accuracy"]) for p in M.coverage_curve([0.2, 0.9, 0.5], [False, True, False])] == [
        (1 / 3, 1.0), (2 / 3, 0.5), (1.0, 1 / 3)
    ]


def test_coverage_curve_answers_ties_together() -> None:
    # a threshold answers every question at or above it: tied confidences are one point
    curve = M.coverage_curve([0.9, 0.6, 0.6, 0.3], [True, True, False, False])
    assert curve == [
        {"threshold": 0.9, "coverage": 0.25, "accuracy": 1.0},
        {"threshold": 0.6, "coverage": 0.75, "accuracy": pytest.approx(2 / 3)},
        {"threshold": 0.3, "coverage": 1.0, "accuracy": 0.5},
    ]
    assert M.accuracy_at_coverage([0.9, 0.6, 0.6, 0.3], [True, True, False, False], 0.5) == pytest.approx(2 / 3)
    assert M.accuracy_at_coverage([0.9, 0.6, 0.6, 0.3], [True, True, False, False], 1.0) == 0.5
    assert M.coverage_curve([], []) == [] and M.accuracy_at_coverage([], [], 0.8) == 0.0


def test_calibration_uses_the_evaluation_metrics() -> None:
    """One ECE and one coverage curve: calibration.json's figures are kbqa.evaluate's."""
    import numpy as np

    from kbqa.read import train_calibration as calibrate

    assert calibrate.coverage_curve is M.coverage_curve
    assert calibrate.expected_calibration_error is M.expected_calibration_error
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 3)) * 3
    gold = rng.integers(0, 3, 60).tolist()
    cal, report = calibrate.fit(logits, gold, target_coverage=0.8)
    probs = calibrate.softmax(logits, cal.temperature)
    conf, correct = probs.max(1).tolist(), (probs.argmax(1) == np.array(gold)).tolist()
    assert report["ece_after"] == M.expected_calibration_error(conf, correct)
    assert report["curve"] == M.coverage_curve(conf, correct)
    assert report["accuracy_answered"] == pytest.approx(M.accuracy_at_coverage(conf, correct, report["coverage"]))


def test_bootstrap_is_one_resampling() -> None:
    """mean_ci and paired_bootstrap_p take their draws from M.bootstrap (same seed, same resamples)."""
    import numpy as np

    values = np.linspace(0, 1, 37)
    means = M.bootstrap(lambda idx: values[idx].mean(axis=1), len(values), resamples=500, seed=3)
    assert means.shape == (500,)
    assert M.mean_ci(values, resamples=500, seed=3) == M.percentile_interval(means)
    idx = np.random.default_rng(3).integers(0, len(values), (500, len(values)))
    assert np.array_equal(means, values[idx].mean(axis=1))


def test_bootstrap_intervals_and_paired_p() -> None:
    values = [0.0, 1.0] * 50
    lo, hi = M.mean_ci(values)
    assert lo < 0.5 < hi and hi - lo < 0.3
    assert M.mean_ci([0.7] * 10) == [pytest.approx(0.7), pytest.approx(0.7)]
    gold = ["yes"] * 30 + ["no"] * 15 + ["maybe"] * 5
    pred = ["yes"] * 25 + ["no"] * 5 + ["no"] * 12 + ["yes"] * 3 + ["maybe", "no", "yes", "yes", "yes"]
    lo, hi = M.macro_f1_ci(gold, pred)
    assert lo < M.macro_f1(gold, pred) < hi
    # one resample: the vectorised F1 equals scikit-learn's on the same resampled questions
    import numpy as np

    for seed in range(5):
        idx = np.random.default_rng(seed).integers(0, len(gold), (1, len(gold)))[0]
        want = M.macro_f1([gold[i] for i in idx], [pred[i] for i in idx])
        assert M.macro_f1_ci(gold, pred, resamples=1, seed=seed) == [pytest.approx(want)] * 2
    assert M.paired_bootstrap_p([1.0] * 5, [1.0] * 5) == 1.0
    better = [1.0] * 40 + [0.0] * 10
    worse = [0.0] * 40 + [0.0] * 10
    assert M.paired_bootstrap_p(better, worse) < 0.01
    noisy_a = [1.0, 0.0] * 25
    noisy_b = [0.0, 1.0] * 25
    assert M.paired_bootstrap_p(noisy_a, noisy_b) > 0.5


def test_metrics_import_without_torch() -> None:
    """The one implementation of each metric is importable (and usable) where torch is not installed."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "from kbqa.evaluate import metrics as M\n"
            "assert M.expected_calibration_error([0.9, 0.6], [True, False]) > 0\n"
            "assert 'torch' not in {m for m, v in sys.modules.items() if v is not None}\n")
    subprocess.run([sys.executable, "-c", code], check=True)
