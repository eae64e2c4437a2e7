"""The BM25 side in parts (kbqa.lexical.write_lexical, ``index.lexical_part_rows``): a build holds one
part's texts in bm25s at a time, and the parts score as one index (issue #22, lexical search at scale)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from kbqa.errors import KbqaError
from kbqa.index.check import check_index
from kbqa.index.store import IndexFolder
from kbqa.index.update import update_index
from kbqa.index.segment_lexical import load_lexical
from kbqa.lexical import PARTS, LexicalIndex, lexical_parts, write_lexical
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"
QUERIES = ["warfarin bleeding", "statin muscle pain", "aspirin heart attack", "metformin kidney", "thyroid amiodarone"]


def corpus(n: int) -> tuple[list[str], list[str]]:
    rng = random.Random(1)
    words = "warfarin bleeding aspirin heart attack kidney failure liver dose children fever statin muscle pain".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 30))) for _ in range(n)]
    return [f"c{i}" for i in range(n)], texts


@pytest.mark.parametrize(("n", "part_rows", "parts"), [(100, 100, 1), (101, 100, 2), (100, 30, 4), (100, 1000, 1)])
def test_parts_score_as_one_index(tmp_path, n, part_rows, parts):
    ids, texts = corpus(n)
    d = tmp_path / "lex"
    assert write_lexical(d, zip(ids, texts), part_rows=part_rows) == parts
    assert (d / PARTS).is_file() == (parts > 1)  # up to part_rows rows: the one-piece layout of every earlier index
    assert [len(lex) for _, lex in lexical_parts(d)] == ([n] if parts == 1 else
                                                        [part_rows] * (parts - 1) + [n - part_rows * (parts - 1)])
    whole = LexicalIndex.build(ids, texts)
    side = load_lexical(d)
    assert list(side.ids) == ids
    for q in ("warfarin bleeding", "aspirin aspirin heart", "kidney failure children fever", "unknownword"):
        assert np.allclose(side.scores(q), whole.scores(q), atol=1e-5)
        got, want = side.search_many([q], k=10)[0], whole.search_many([q], k=10)[0]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    assert side.idf(["aspirin", "nosuchterm"]) == pytest.approx(whole.idf(["aspirin", "nosuchterm"]))


def test_a_build_never_holds_more_than_one_part(tmp_path, tiny_cfg, monkeypatch):
    """bm25s indexes in memory: the build hands it at most ``lexical_part_rows`` texts at a time."""
    sizes: list[int] = []
    real = LexicalIndex.build.__func__

    def counting(cls, ids, texts, **kw):
        sizes.append(len(texts))
        return real(cls, ids, texts, **kw)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(counting))
    cfg = tiny_cfg.replace(index={"lexical_part_rows": 4})
    kb = KnowledgeBase.build([DOCS], tmp_path / "idx", cfg, progress=False)
    assert len(kb) > 8 and max(sizes) == 4 and sum(sizes) == len(kb)


def test_a_parted_index_searches_like_a_one_piece_one_and_checks(tmp_path, tiny_cfg):
    one = KnowledgeBase.build([DOCS], tmp_path / "one", tiny_cfg, progress=False)
    parted = KnowledgeBase.build([DOCS], tmp_path / "parted", tiny_cfg.replace(index={"lexical_part_rows": 3}),
                                 progress=False)
    assert (IndexFolder(tmp_path / "parted").version_dir() / "lexical" / PARTS).is_file()
    assert len(lexical_parts(IndexFolder(tmp_path / "parted").version_dir() / "lexical")) == -(-len(one) // 3)
    for mode in ("lexical", "hybrid"):
        for ha, hb in zip(one.with_search(mode=mode).search_many(QUERIES, k=len(one)),
                          parted.with_search(mode=mode).search_many(QUERIES, k=len(one)), strict=True):
            assert np.allclose([h.score for h in ha], [h.score for h in hb], atol=1e-5)
            assert {h.chunk_id for h in ha} == {h.chunk_id for h in hb}
    assert check_index(tmp_path / "parted").ok


def test_damaged_parts_are_named(tmp_path, tiny_cfg, encoder):
    idx = tmp_path / "idx"
    KnowledgeBase.build([DOCS], idx, tiny_cfg.replace(index={"lexical_part_rows": 3}), progress=False)
    lex = IndexFolder(idx).version_dir() / "lexical"
    (lex / "part-000001" / "lexical.json").unlink()
    report = check_index(idx)
    assert not report.ok and any("part-000001" in p for p in report.problems)
    with pytest.raises(KbqaError, match="part-000001"):
        KnowledgeBase.load(idx, encoder=encoder).lexical  # noqa: B018
    listing = json.loads((lex / PARTS).read_text())
    (lex / PARTS).write_text(json.dumps({**listing, "counts": listing["counts"][:-1]}))
    with pytest.raises(KbqaError, match="parts.json.*row count"):
        lexical_parts(lex)


def test_updates_of_a_parted_index_mask_deletions_and_equal_a_fresh_build(tmp_path, tiny_cfg, encoder):
    """A segment whose lexical side is in parts: each part gets its share of the deletion bitmap."""
    cfg = tiny_cfg.replace(index={"lexical_part_rows": 3})
    idx = tmp_path / "idx"
    KnowledgeBase.build([DOCS], idx, cfg, progress=False)
    rows = [json.loads(line) for line in DOCS.read_text().splitlines() if line.strip()]
    changed = {**rows[1], "text": rows[1]["text"] + " Revised: warfarin bleeding risk rises after 70."}
    new = [{"id": "n1", "text": "Amiodarone causes hypothyroidism and thyrotoxicosis; thyroid function should be "
            "checked every six months. Warfarin doses fall with amiodarone.", "year": 2021}]
    upd = tmp_path / "u.jsonl"
    upd.write_text("".join(json.dumps(r) + "\n" for r in [changed, *new]))
    update_index(idx, [upd], delete_ids=[str(rows[0]["id"])], encoder=encoder)
    kb = KnowledgeBase.load(idx, encoder=encoder)
    assert (idx / "segments" / "s000001" / "lexical" / PARTS).is_file()  # the adopted base: parts, one with deletions
    final = [changed if r is rows[1] else r for r in rows[1:]] + new
    fresh_src = tmp_path / "final.jsonl"
    fresh_src.write_text("".join(json.dumps(r) + "\n" for r in final))
    ref = KnowledgeBase.load(KnowledgeBase.build([fresh_src], tmp_path / "fresh", cfg, progress=False).index_dir,
                             encoder=encoder)
    gone = f"{rows[0]['id']}#"
    for ha, hb in zip(kb.with_search(mode="dense").search_many(QUERIES, k=len(ref)),
                      ref.with_search(mode="dense").search_many(QUERIES, k=len(ref)), strict=True):
        assert [h.chunk_id for h in ha] == [h.chunk_id for h in hb]
    lexical = kb.with_search(mode="lexical").search_many(QUERIES, k=len(kb))
    assert sum(map(len, lexical)) >= len(QUERIES)
    assert not any(h.chunk_id.startswith(gone) for hits in lexical for h in hits)
    assert any("Revised" in h.text for hits in lexical for h in hits)  # the live copy of the changed document
    assert check_index(idx).ok


def test_a_filter_is_looked_up_once_and_forgotten_when_the_ids_change():
    """A metadata filter's id set (immutable, cached per filter by the store) maps to rows once, not
    on every query; adding or removing ids forgets it."""
    from kbqa.index.ids import IdTable

    table = IdTable(["a", "b", "c", "d"])
    allowed = frozenset({"b", "d", "z"})
    rows = table.rows_array(allowed)
    assert rows.tolist() == [1, 3] and table.rows_array(allowed) is rows
    assert table.rows_array({"b", "d"}) is not rows  # a mutable set is never remembered
    table.extend(["z"])
    assert table.rows_array(allowed).tolist() == [1, 3, 4]
    table.remove_rows([0])
    assert table.rows_array(allowed).tolist() == [0, 2, 3]
