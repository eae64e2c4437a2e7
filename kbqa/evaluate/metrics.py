"""Metrics: retrieval via ir_measures (pytrec_eval), answers via scikit-learn, calibration (ECE,
coverage curve) and bootstrap intervals: the one implementation of each that every report uses.

All quality figures are fractions in [0, 1]. Per-query values are kept so that runs can be compared
with a paired bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kbqa.evaluate.benchmark import Qrel

RETRIEVAL_MEASURES = ("nDCG@10", "R@10", "R@100", "RR@10")
RECALL_CUTOFFS = (1, 2, 3, 5, 10, 20, 50, 100)
CI_LEVEL = 0.95  # every interval in a report is a 95% percentile bootstrap interval


def judged_questions(qrels: Sequence[Qrel]) -> list[str]:
    """Questions with at least one relevant (grade > 0) document, in first-seen order.

    Only these are scored: metrics of a question with no relevant document are undefined.
    """
    out: dict[str, None] = {}
    for r in qrels:
        if r.grade > 0:
            out.setdefault(r.qid, None)
    return list(out)


def retrieval_per_query(
    qrels: Sequence[Qrel],
    run: dict[str, list[tuple[str, float]]],
    measures: Sequence[str] = RETRIEVAL_MEASURES,
) -> dict[str, dict[str, float]]:
    """``{qid: {measure: value}}`` for every judged question (missing from ``run`` = nothing retrieved).

    ``run`` lists each question's documents best first; the order is what counts (ties in score
    are broken by that order, not by pytrec_eval's doc-id order).
    """
    import ir_measures

    qids = judged_questions(qrels)
    wanted = set(qids)
    parsed = [ir_measures.parse_measure(m) for m in measures]
    ir_qrels = [ir_measures.Qrel(r.qid, r.doc_id, int(r.grade)) for r in qrels if r.qid in wanted]
    ir_run = [
        ir_measures.ScoredDoc(qid, doc_id, float(len(ranked) - rank))
        for qid, ranked in run.items()
        if qid in wanted
        for rank, (doc_id, _) in enumerate(ranked)
    ]
    out = {qid: {m: 0.0 for m in measures} for qid in qids}
    names = {str(m): name for m, name in zip(parsed, measures)}
    for metric in ir_measures.iter_calc(parsed, ir_qrels, ir_run):
        out[metric.query_id][names[str(metric.measure)]] = float(metric.value)
    return out


def mean_metrics(per_query: dict[str, dict[str, float]], measures: Sequence[str]) -> dict[str, float]:
    """Macro average of each measure over questions."""
    n = len(per_query)
    return {m: (sum(v[m] for v in per_query.values()) / n if n else 0.0) for m in measures}


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE with ``bins`` equal-width confidence bins: sum over bins of |accuracy - confidence| * share."""
    n = len(confidence)
    return sum(abs(b["accuracy"] - b["confidence"]) * b["count"] / n for b in reliability_bins(confidence, correct, bins))


def reliability_bins(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> list[dict[str, float]]:
    """Per-bin mean confidence, accuracy and count (the data of a reliability diagram)."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidence) if (lo < c <= hi) or (b == 0 and c <= hi)]
        if idx:
            out.append(
                {
                    "lo": lo,
                    "hi": hi,
                    "confidence": sum(confidence[i] for i in idx) / len(idx),
                    "accuracy": sum(bool(correct[i]) for i in idx) / len(idx),
                    "count": len(idx),
                }
            )
    return out


def coverage_curve(confidence: Sequence[float], correct: Sequence[bool]) -> list[dict[str, float]]:
    """Selective answering: for each distinct confidence ``threshold``, most confident first, the share of
    questions answered (confidence >= threshold) and the accuracy on them.

    Tied confidences are answered together, as a threshold answers them; the last point covers everything.
    """
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    out: list[dict[str, float]] = []
    right = 0
    for n, i in enumerate(order, 1):
        right += bool(correct[i])
        if n == len(order) or confidence[order[n]] != confidence[i]:
            out.append({"threshold": float(confidence[i]), "coverage": n / len(order), "accuracy": right / n})
    return out


def accuracy_at_coverage(confidence: Sequence[float], correct: Sequence[bool], coverage: float) -> float:
    """Accuracy when answering the most confident questions at the highest threshold that answers at
    least ``coverage`` of them (a point of :func:`coverage_curve`)."""
    curve = coverage_curve(confidence, correct)
    if not curve:
        return 0.0
    return next(p["accuracy"] for p in curve if p["coverage"] >= coverage - 1e-12)


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of questions whose predicted label is the gold one (0 for none)."""
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold) if gold else 0.0


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Macro F1 over the labels that occur in ``gold`` or ``predicted``."""
    from sklearn.metrics import f1_score

    present = sorted(set(gold) | set(predicted))
    return float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0))


def answer_metrics(
    gold: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    abstained: Sequence[bool],
    labels: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, macro F1, per-class scores and confusion matrix over ``labels``; coverage,
    selective accuracy (accuracy on the questions not abstained on) and ECE of ``confidence``."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(labels)
    correct = [g == p for g, p in zip(gold, predicted)]
    prec, rec, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    answered = [i for i, a in enumerate(abstained) if not a]
    return {
        "n_questions": len(gold),
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "per_class": {
            lab: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for lab, p, r, f, s in zip(labels, prec, rec, f1, support)
        },
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(gold, predicted, labels=labels).tolist(),  # rows: gold, cols: predicted
        },
        "coverage": len(answered) / len(gold) if gold else 0.0,
        "selective_accuracy": (sum(correct[i] for i in answered) / len(answered)) if answered else 0.0,
        "ece": expected_calibration_error(confidence, correct),
    }


def bootstrap(
    statistic: Callable[[Any], Any], n: int, *, resamples: int = 1000, seed: int = 0
) -> Any:
    """The one bootstrap of kbqa's reports: ``statistic`` of ``resamples`` resamples of ``n`` questions.

    Resampling draws ``n`` question positions with replacement per resample from
    ``numpy.random.default_rng(seed)``, as one ``(resamples, n)`` integer array; ``statistic`` maps that
    array to one value per resample (vectorised over the first axis). Every interval of a report is the
    95% percentile interval of these values (:func:`percentile_interval`) and every paired p-value is
    computed from them (:func:`paired_bootstrap_p`), so that a fixed seed gives the same draws everywhere.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.asarray(statistic(rng.integers(0, n, (resamples, n))), dtype=float)


def percentile_interval(values: Any) -> list[float]:
    """``[lo, hi]``: the central :data:`CI_LEVEL` percentile interval of bootstrap ``values``."""
    import numpy as np

    alpha = (1 - CI_LEVEL) / 2
    return [float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))]


def macro_f1_ci(
    gold: Sequence[str], predicted: Sequence[str], *, resamples: int = 1000, seed: int = 0
) -> list[float]:
    """Percentile bootstrap interval of macro F1, vectorised over resamples (sklearn per resample is
    too slow); per resample, F1 is averaged over the labels present in that resample, as
    :func:`macro_f1` does."""
    import numpy as np

    n = len(gold)
    if n == 0:
        return [0.0, 0.0]
    labels = sorted(set(gold) | set(predicted))
    index = {lab: i for i, lab in enumerate(labels)}
    g = np.array([index[x] for x in gold])
    p = np.array([index[x] for x in predicted])

    def f1(idx: Any) -> Any:
        gs, ps = g[idx], p[idx]
        f1s, present = [], []
        for c in range(len(labels)):
            tp = ((gs == c) & (ps == c)).sum(axis=1)
            denom = (gs == c).sum(axis=1) + (ps == c).sum(axis=1)
            f1s.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
            present.append(denom > 0)
        return np.stack(f1s).sum(axis=0) / np.stack(present).sum(axis=0)

    return percentile_interval(bootstrap(f1, n, resamples=resamples, seed=seed))


def mean_ci(values: Sequence[float], *, resamples: int = 1000, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval ``[lo, hi]`` of the mean of per-question ``values``."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return [0.0, 0.0]
    return percentile_interval(bootstrap(lambda idx: arr[idx].mean(axis=1), len(arr), resamples=resamples, seed=seed))


def paired_bootstrap_p(a: Sequence[float], b: Sequence[float], *, resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value that the mean of ``a - b`` is 0 (paired bootstrap, shifted to the null)."""
    import numpy as np

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) == 0:
        return 1.0
    observed = d.mean()
    if np.allclose(d, 0.0):
        return 1.0
    means = bootstrap(lambda idx: d[idx].mean(axis=1), len(d), resamples=resamples, seed=seed)
    # Under H0 the centred resampled means spread around 0; count those at least as extreme.
    return float((np.sum(np.abs(means - observed) >= abs(observed)) + 1) / (resamples + 1))
