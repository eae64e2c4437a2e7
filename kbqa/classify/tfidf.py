"""TF-IDF + logistic regression (scikit-learn): the baseline of ``kbqa eval classifier``, and the optional
second component of a trained classifier (``--combine tfidf``), saved without pickles.

The fitted vectoriser and model are stored as ``tfidf.json`` (settings, vocabulary, labels) and
``tfidf.safetensors`` (idf, coefficients, intercepts); :meth:`TfidfLR.predict_proba` recomputes
scikit-learn's transform from them (checked against scikit-learn in the tests).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.numeric import softmax

JSON_FILE = "tfidf.json"
WEIGHTS_FILE = "tfidf.safetensors"
# word uni- and bigrams, sublinear tf: the usual strong TF-IDF setup for short texts; C picked by
# 3-fold CV on the training rows among CS (so the baseline is tuned, not a strawman)
VECTORIZER = {"lowercase": True, "ngram_range": [1, 2], "sublinear_tf": True, "min_df": 1, "strip_accents": "unicode"}
CS = (1.0, 10.0, 100.0)


class TfidfLR:
    """A fitted TF-IDF vectoriser and multinomial logistic regression over ``labels``."""

    def __init__(self, labels: list[str], vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray, c: float) -> None:
        self.labels, self.vocabulary, self.idf = labels, vocabulary, idf
        self.coef, self.intercept, self.c = coef, intercept, c

    @classmethod
    def fit(cls, texts: Sequence[str], gold: Sequence[str], labels: Sequence[str], seed: int = 0) -> TfidfLR:
        """Fit on ``texts``/``gold``; ``labels`` fixes the probability columns (a label absent here gets 0)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score
        from sklearn.pipeline import make_pipeline

        present = sorted(set(gold))
        if len(present) < 2:
            raise KbqaError("TF-IDF + LR needs at least two labels in its training rows")
        counts = min(list(gold).count(lab) for lab in present)

        def model(c: float) -> Any:
            return make_pipeline(TfidfVectorizer(**_vectorizer_args()),
                                 LogisticRegression(C=c, max_iter=3000, class_weight="balanced"))

        best_c = CS[1]
        if counts >= 3:
            folds = StratifiedKFold(3, shuffle=True, random_state=seed)
            scores = [cross_val_score(model(c), list(texts), list(gold), cv=folds, scoring="f1_macro").mean()
                      for c in CS]
            best_c = CS[int(np.argmax(scores))]
        pipe = model(best_c).fit(list(texts), list(gold))
        vec, lr = pipe[0], pipe[1]
        coef = np.zeros((len(labels), lr.coef_.shape[1]), dtype=np.float32)
        intercept = np.full(len(labels), -1e4, dtype=np.float32)  # a label unseen in training: never predicted
        classes = list(lr.classes_)
        if len(classes) == 2:  # binary LR: one row of coefficients for the second class
            rows = {classes[0]: (-lr.coef_[0] / 2, -lr.intercept_[0] / 2), classes[1]: (lr.coef_[0] / 2, lr.intercept_[0] / 2)}
        else:
            rows = {lab: (lr.coef_[k], lr.intercept_[k]) for k, lab in enumerate(classes)}
        for j, lab in enumerate(labels):
            if lab in rows:
                coef[j], intercept[j] = rows[lab]
        vocabulary = {str(t): int(i) for t, i in vec.vocabulary_.items()}
        return cls(list(labels), vocabulary, vec.idf_.astype(np.float32), coef, intercept, best_c)

    def transform(self, texts: Sequence[str]) -> Any:
        """scikit-learn's TF-IDF matrix of ``texts`` (sublinear tf, idf, l2 norm), from the stored vocabulary."""
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        args = {k: v for k, v in _vectorizer_args().items() if k != "sublinear_tf"}
        counts = CountVectorizer(vocabulary=self.vocabulary, **args).transform(list(texts)).astype(np.float64)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf.astype(np.float64)).tocsr())

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (n, len(labels))."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        scores = self.transform(texts) @ self.coef.T.astype(np.float64) + self.intercept
        return softmax(np.asarray(scores))

    def save(self, folder: str | Path) -> None:
        from safetensors.numpy import save_file

        from kbqa.files import write_atomic

        folder = Path(folder)
        save_file({"idf": self.idf, "coef": self.coef, "intercept": self.intercept}, str(folder / WEIGHTS_FILE))
        meta = {"labels": self.labels, "vectorizer": VECTORIZER, "C": self.c, "vocabulary": self.vocabulary}
        write_atomic(folder / JSON_FILE, json.dumps(meta, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> TfidfLR:
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            meta = json.loads((folder / JSON_FILE).read_text(encoding="utf-8"))
            arrays = load_file(str(folder / WEIGHTS_FILE))
        except (OSError, ValueError) as exc:
            raise KbqaError(f"{folder}: unreadable TF-IDF component ({exc}); retrain the classifier") from exc
        if meta.get("vectorizer") != VECTORIZER:
            raise KbqaError(f"{folder / JSON_FILE}: made with other TF-IDF settings {meta.get('vectorizer')}; retrain")
        return cls(meta["labels"], meta["vocabulary"], arrays["idf"], arrays["coef"], arrays["intercept"], meta["C"])


def _vectorizer_args() -> dict[str, Any]:
    return {**VECTORIZER, "ngram_range": tuple(VECTORIZER["ngram_range"])}
