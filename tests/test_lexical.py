"""BM25 (kbqa.lexical) against a hand-computed case, id handling and save/load."""

from __future__ import annotations

import math

import pytest

from kbqa.errors import KbqaError
from kbqa.lexical import LexicalIndex, tokenize

IDS = ["d1#0", "d2#0", "d3#0"]
TEXTS = [
    "Aspirin reduces fever.",  # tokens: aspirin reduc fever
    "Aspirin and aspirin again: aspirin!",  # aspirin x3, again
    "Fever in children.",  # fever children
]


def _bm25(tf: int, df: int, dl: int, n: int, avgdl: float, k1: float = 1.5, b: float = 0.75) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))


def test_tokenize_stems_and_drops_stopwords() -> None:
    assert tokenize(TEXTS) == [["aspirin", "reduc", "fever"], ["aspirin", "aspirin", "again", "aspirin"], ["fever", "children"]]


def test_scores_match_hand_computed_bm25() -> None:
    index = LexicalIndex.build(IDS, TEXTS)
    avgdl = (3 + 4 + 2) / 3
    got = dict(index.search_many(["aspirin for the fevers"], k=3)[0])
    want = {
        "d1#0": _bm25(1, 2, 3, 3, avgdl) + _bm25(1, 2, 3, 3, avgdl),
        "d2#0": _bm25(3, 2, 4, 3, avgdl),
        "d3#0": _bm25(1, 2, 2, 3, avgdl),
    }
    assert got == pytest.approx(want, rel=1e-5)
    ranked = [i for i, _ in index.search_many(["aspirin for the fevers"], k=3)[0]]
    assert ranked == sorted(want, key=lambda i: -want[i])


def test_k_is_clamped_and_unknown_words_score_zero() -> None:
    index = LexicalIndex.build(IDS, TEXTS)
    res = index.search_many(["children", "zzzz unknownword", ""], k=50)
    assert [len(r) for r in res] == [3, 3, 3]
    assert res[0][0][0] == "d3#0" and res[0][1][1] == 0.0
    assert all(score == 0.0 for _, score in res[1])
    assert [i for i, _ in res[1]] == IDS  # ties keep indexing order
    assert index.search_many(["fever"], k=0) == [[]]


def test_save_load_roundtrip(tmp_path) -> None:
    index = LexicalIndex.build(IDS, TEXTS)
    index.save(tmp_path / "lexical")
    assert not list((tmp_path / "lexical").glob("*.pkl"))
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert loaded.ids == IDS
    q = ["aspirin fever", "children"]
    assert loaded.search_many(q, k=2) == index.search_many(q, k=2)


def test_bad_input_is_refused(tmp_path) -> None:
    with pytest.raises(KbqaError, match="duplicate id 'a'"):
        LexicalIndex.build(["a", "a"], ["x", "y"])
    with pytest.raises(KbqaError, match="2 ids but 1 texts"):
        LexicalIndex.build(["a", "b"], ["x"])
    with pytest.raises(KbqaError, match="no text has a word left"):
        LexicalIndex.build(["a", "b"], ["the", "of it"])
    with pytest.raises(KbqaError, match="no lexical index"):
        LexicalIndex.load(tmp_path)
