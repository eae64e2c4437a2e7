"""Which sentences of a retrieved abstract carry its conclusion: the reader reads those for the verdict.

A small reader answers a question far better from an abstract's conclusion than from the whole
abstract (PubMedQA dev: 0.72 accuracy on question + conclusion, about 0.5 on whole index chunks),
but an index stores abstracts as plain chunks, without section labels. The selector is a TF-IDF
(word 1–2-gram) logistic regression that scores each sentence's likelihood of belonging to a
conclusion; it is trained on PubMedQA *train* abstracts (contexts' sentences against conclusion
sentences; the labels it learns are section roles, never answers) and saved as plain JSON
(``selector.json`` in the reader folder: vocabulary, idf and coefficients, no pickles).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KbqaError
from kbqa.files import write_atomic
from kbqa.numeric import sigmoid, top_k

SELECTOR_FILE = "selector.json"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
FORMAT = "kbqa-sentence-selector/1"


class SentenceSelector:
    """``score(texts)`` -> probability that each sentence states a conclusion."""

    def __init__(self, vocabulary: dict[str, int], idf: Sequence[float], coef: Sequence[float], intercept: float,
                 *, ngram_range: tuple[int, int] = (1, 2), info: dict | None = None) -> None:
        if not (len(vocabulary) == len(idf) == len(coef)) or not vocabulary:
            raise KbqaError(f"sentence selector: {len(vocabulary)} terms, {len(idf)} idf values and "
                            f"{len(coef)} coefficients must be equal and non-zero")
        self.vocabulary = dict(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.ngram_range = tuple(ngram_range)
        self.info = info or {}

    @classmethod
    def fit(cls, positives: Sequence[str], negatives: Sequence[str], *, min_df: int = 3, c: float = 4.0,
            info: dict | None = None) -> SentenceSelector:
        """Fit on conclusion sentences (``positives``) against the other sentences of the same abstracts."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if not positives or not negatives:
            raise KbqaError("the sentence selector needs both conclusion and other sentences to learn from")
        texts = list(positives) + list(negatives)
        y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, sublinear_tf=True)
        x = vec.fit_transform(texts)
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, y)
        vocab = {t: int(i) for t, i in vec.vocabulary_.items()}
        meta = {"positives": len(positives), "negatives": len(negatives), "min_df": min_df, "C": c, **(info or {})}
        return cls(vocab, vec.idf_.tolist(), lr.coef_[0].tolist(), float(lr.intercept_[0]), info=meta)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """P(conclusion) per text: the logistic regression over the texts' TF-IDF rows.

        The rows are computed here as scikit-learn's ``TfidfVectorizer(ngram_range, sublinear_tf=True,
        vocabulary)`` computes them (lower-cased ``\\w\\w+`` tokens, n-grams, 1 + log tf, times idf,
        L2-normalised; tests check it against scikit-learn): importing scikit-learn costs ~1.4 s of
        every `kbqa ask`."""
        z = np.array([self._dot(t) for t in texts], dtype=np.float64) + self.intercept
        return sigmoid(z)

    def _dot(self, text: str) -> float:
        tokens = _TOKEN.findall(text.lower())
        lo, hi = self.ngram_range
        counts: dict[int, int] = {}
        for n in range(lo, hi + 1):
            for i in range(len(tokens) - n + 1):
                j = self.vocabulary.get(" ".join(tokens[i: i + n]))
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
        if not counts:
            return 0.0
        cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
        w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[cols]
        return float(w @ self.coef[cols] / np.sqrt(w @ w))

    def pick(self, texts: Sequence[str], m: int) -> list[int]:
        """Indices of the ``m`` most conclusion-like texts, in their original order."""
        if m <= 0 or not texts:
            return []
        s = self.score(texts)
        return sorted(int(i) for i in top_k(s, m))

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / SELECTOR_FILE
        data = {"format": FORMAT, "ngram_range": list(self.ngram_range), "intercept": self.intercept,
                "info": self.info, "terms": sorted(self.vocabulary, key=self.vocabulary.get),
                "idf": [round(float(v), 6) for v in self.idf], "coef": [round(float(v), 6) for v in self.coef]}
        write_atomic(path, json.dumps(data, separators=(",", ":")) + "\n")
        return path


def load_selector(folder: str | Path) -> SentenceSelector | None:
    """The reader folder's selector, or None when it has none (the reader then reads whole passages)."""
    path = Path(folder) / SELECTOR_FILE
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise KbqaError(f"{path}: format {data.get('format')!r}, expected {FORMAT!r}; retrain the reader")
        vocab = {t: i for i, t in enumerate(data["terms"])}
        return SentenceSelector(vocab, data["idf"], data["coef"], data["intercept"],
                                ngram_range=tuple(data["ngram_range"]), info=data.get("info"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KbqaError(f"{path} is not a readable sentence selector ({exc}); retrain the reader or delete the file "
                        "to read whole passages") from exc
