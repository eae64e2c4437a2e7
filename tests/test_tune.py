"""Embedder fine-tuning: triplet mining (no leakage, negatives never answer the query), batching,
resumable training with a tiny random encoder."""

from __future__ import annotations

import argparse

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import KB_DOCS

from kbqa.errors import KbqaError
from kbqa.tune.embedder import EmbedderRecipe, batches, train_embedder
from kbqa.tune.mining import Source, allocate, mine
from kbqa.tune.pairs import claims_source

DATA = Path(__file__).parent / "data"


class HashEncoder:
    """Bag-of-words vectors: deterministic, and texts sharing words are similar."""

    dim = 64

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in text.lower().split():
            v[sum(map(ord, w)) % self.dim] += 1
        return v / (np.linalg.norm(v) or 1.0)

    def encode_passages(self, texts, *, progress=False):
        return np.stack([self._vec(t) for t in texts])

    def encode_queries(self, texts):
        return self.encode_passages(texts)


class WordChunker:
    """One chunk per document, embedded as title + text (what kbqa.chunk does for short texts)."""

    class cfg:
        include_title = True

    def split(self, doc):
        from kbqa.types import Chunk

        return [Chunk(f"{doc.doc_id}#0", doc.doc_id, doc.text, 0, len(doc.text), doc.title)]


def _source() -> Source:
    src = Source("toy")
    texts = {
        "a": "aspirin prevents stroke in adults",
        "a2": "aspirin prevents stroke in adults",  # same answer text stored twice (MedQuAD repeats files)
        "b": "aspirin causes stomach bleeding",
        "c": "statins lower cholesterol and stroke risk",
        "d": "insulin treats diabetes",
        "e": "metformin treats diabetes in adults",
    }
    for doc, text in texts.items():
        src.passages[f"{doc}#0"] = text
        src.passage_doc[f"{doc}#0"] = doc
    src.queries = [
        ("q1", "does aspirin prevent stroke", "a#0", frozenset({"a", "a2"})),
        ("q2", "what treats diabetes", "d#0", frozenset({"d"})),
    ]
    return src


def test_mined_negatives_never_answer_the_query():
    triplets = mine(_source(), HashEncoder(), 10, seed=0)
    assert {t["qid"] for t in triplets} == {"q1", "q2"}
    for t in triplets:
        assert t["neg_id"].split("#")[0] not in ({"a", "a2"} if t["qid"] == "q1" else {"d"})
        assert t["negative"] != t["positive"]
        assert t["neg_by"] in ("bm25", "dense")
    assert mine(_source(), HashEncoder(), 10, seed=0) == triplets  # deterministic for a seed
    assert len(mine(_source(), HashEncoder(), 1, seed=0)) == 1


def test_allocate_shares_and_passes_leftovers_on():
    assert allocate({"medquad": 10_000, "claims": 100, "pubmedqa": 50}, 1000) == {
        "medquad": 850, "claims": 100, "pubmedqa": 50}
    assert sum(allocate({"medquad": 10_000, "claims": 10_000, "pubmedqa": 10_000}, 1000).values()) == 1000
    assert allocate({"claims": 30}, 1000) == {"claims": 30}


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _claims(root: Path) -> Path:
    _write(root / "toy" / "train.jsonl", [
        {"id": "1", "question": "Masks reduce transmission.", "context": "Masks cut spread by half.", "label": "yes"},
        {"id": "2", "question": "Masks reduce transmission.", "context": "The weather was cold.", "label": "maybe"},
        {"id": "3", "question": "Vitamin D cures covid.", "context": "Vitamin D had no effect.", "label": "no"},
        {"id": "4", "question": "Zinc cures colds.", "context": "Zinc shortened colds in the dev set.", "label": "yes"},
        {"id": "5", "question": "Rest helps.", "context": "Rest   helped patients recover.", "label": "yes"},
    ])
    _write(root / "toy" / "dev.jsonl", [
        {"id": "d1", "question": "Zinc works.", "context": "Zinc shortened colds in the dev set.", "label": "yes"},
    ])
    return root


def test_claims_source_keeps_dev_evidence_out_and_maybe_rows_unjudged(tmp_path):
    src = claims_source(WordChunker(), _claims(tmp_path / "claims"))
    texts = set(src.passages.values())
    assert "Zinc shortened colds in the dev set." not in texts  # a dev context never trains
    assert "Rest helped patients recover." in texts  # whitespace normalised, as the benchmark stores it
    queries = {q for _, q, _, _ in src.queries}
    assert queries == {"Masks reduce transmission.", "Vitamin D cures covid.", "Rest helps."}
    masks = next(q for q in src.queries if q[1].startswith("Masks"))
    assert src.passages[masks[2]] == "Masks cut spread by half."
    assert any(src.passages[c] == "The weather was cold." for c in src.passages)  # still a negative candidate


def test_claims_source_without_files_is_a_clear_error(tmp_path):
    with pytest.raises(KbqaError, match="train.jsonl"):
        claims_source(WordChunker(), tmp_path)


def test_batches_cover_every_triplet_once_without_repeated_texts():
    rows = [{"query": f"q{i % 7}", "positive": f"p{i % 5}", "negative": f"n{i}"} for i in range(40)]
    plan = batches(rows, 4, seed=3, epoch=0)
    assert sorted(i for b in plan for i in b) == list(range(40))
    for b in plan:
        assert len(b) <= 4
        assert len({rows[i]["query"] for i in b}) == len(b)
        assert len({rows[i]["positive"] for i in b}) == len(b)
    assert batches(rows, 4, seed=3, epoch=0) == plan
    assert batches(rows, 4, seed=3, epoch=1) != plan


def _pubmedqa_split(tmp_path: Path) -> Path:
    split = tmp_path / "pubmedqa.json"
    split.write_text(json.dumps({"train": ["111", "222"], "dev": []}))
    return split


def test_train_embedder_saves_a_loadable_fp16_model_and_resumes(tmp_path, tiny_encoder_dir, monkeypatch):
    import kbqa.tune.pairs as pairs

    monkeypatch.setitem(pairs.DEFAULT_SPLITS, "pubmedqa", str(_pubmedqa_split(tmp_path)))
    data = {"pubmedqa": str(DATA / "corpus" / "pubmedqa_sample.json"), "claims": str(_claims(tmp_path / "claims"))}
    recipe = EmbedderRecipe(max_pairs=20, batch_size=2, sources=("pubmedqa", "claims"), lr=1e-3)
    out = tmp_path / "emb"
    summary = train_embedder(out, recipe=recipe, base_model=str(tiny_encoder_dir), data=data,
                             checkpoint_every=1, progress=False)
    assert summary["triplets"] >= 3 and summary["steps"] >= 2
    assert summary["sources"]["pubmedqa"]["triplets"] == 2
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}

    from kbqa.config import EmbedConfig
    from kbqa.embed import load_encoder, weights_checksum

    enc = load_encoder(EmbedConfig(model=str(out)))
    # fp16 file, fp32 in memory (the light encoder keeps the word table as stored: it only looks rows up)
    dtypes = {str(p.dtype) for name, p in enc.model.named_parameters() if name not in ("word.weight",)}
    assert dtypes == {"torch.float32"}
    assert enc.max_seq_length == 128  # the base model's window, not the training cut
    assert enc.identity()["weights_sha256"] == weights_checksum(str(out)) != weights_checksum(str(tiny_encoder_dir))
    vec = enc.encode_queries(["aspirin"])
    assert vec.shape == (1, enc.dim) and np.isclose(np.linalg.norm(vec), 1.0, atol=1e-3)

    # a run interrupted after its first checkpoint resumes from it and reaches the same weights
    import kbqa.train_loop as loop

    out2 = tmp_path / "emb2"
    real_save = loop.save_checkpoint

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_embedder(out2, recipe=recipe, base_model=str(tiny_encoder_dir), data=data, checkpoint_every=1,
                       progress=False)
    state = json.loads((out2 / "work" / "checkpoint" / "state.json").read_text())["state"]
    assert state["step"] == 1 < summary["steps"] and not (out2 / "model.safetensors").exists()
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    again = train_embedder(out2, recipe=recipe, base_model=str(tiny_encoder_dir), data=data,
                           checkpoint_every=1, progress=False)
    assert again["loss_last_20"] == summary["loss_last_20"]
    from safetensors.torch import load_file

    a, b = load_file(str(out / "model.safetensors")), load_file(str(out2 / "model.safetensors"))
    assert all(np.allclose(a[k].float().numpy(), b[k].float().numpy(), atol=1e-3) for k in a)


def test_train_embedder_refuses_other_settings_in_the_same_folder(tmp_path, tiny_encoder_dir, monkeypatch):
    import kbqa.tune.pairs as pairs

    monkeypatch.setitem(pairs.DEFAULT_SPLITS, "pubmedqa", str(_pubmedqa_split(tmp_path)))
    data = {"pubmedqa": str(DATA / "corpus" / "pubmedqa_sample.json")}
    recipe = EmbedderRecipe(max_pairs=2, batch_size=2, sources=("pubmedqa",))
    train_embedder(tmp_path / "e", recipe=recipe, base_model=str(tiny_encoder_dir), data=data, progress=False)
    with pytest.raises(KbqaError, match="other settings"):
        train_embedder(tmp_path / "e", recipe=EmbedderRecipe(max_pairs=3, batch_size=2, sources=("pubmedqa",)),
                       base_model=str(tiny_encoder_dir), data=data, progress=False)


def test_tuned_embedder_name_resolves_to_its_folder_or_says_how_to_get_it(tmp_path, tiny_encoder_dir, monkeypatch):
    from kbqa.config import TUNED_EMBEDDER, EmbedConfig
    from kbqa.embed import EMBEDDER_ENV, load_encoder, resolve_model

    monkeypatch.setenv(EMBEDDER_ENV, str(tiny_encoder_dir))
    assert resolve_model(TUNED_EMBEDDER) == str(tiny_encoder_dir.resolve())
    enc = load_encoder(EmbedConfig(model=TUNED_EMBEDDER))
    assert enc.identity()["name"] == TUNED_EMBEDDER and enc.identity()["weights_sha256"]
    monkeypatch.setenv(EMBEDDER_ENV, str(tmp_path / "missing"))
    with pytest.raises(KbqaError, match="all-MiniLM-L6-v2"):
        resolve_model(TUNED_EMBEDDER)


def test_mining_reuses_index_vectors_only_from_the_same_embedder(tmp_path, tiny_cfg):
    from kbqa.chunk import embed_text
    from kbqa.index.store import IndexFolder
    from kbqa.pipeline import KnowledgeBase
    from kbqa.tune.mining import dense_pool_vectors

    kb = KnowledgeBase.build([KB_DOCS], tmp_path / "idx", tiny_cfg, progress=False)
    src = Source("toy")
    for c in kb.iter_chunks():
        src.passages[c.chunk_id] = embed_text(c, kb.config.chunk)
        src.passage_doc[c.chunk_id] = c.doc_id

    class NoEncoding:  # the index's own model, forbidden to encode: every vector must come from the index
        dim = kb.encoder.dim

        def __init__(self, identity):
            self._identity = identity

        def identity(self):
            return self._identity

        def encode_passages(self, texts, *, progress=False):
            raise AssertionError(f"{len(texts)} passages re-encoded")

    ids, vecs = dense_pool_vectors(NoEncoding(kb.encoder.identity()), src, tmp_path / "idx")
    stored_ids, stored = IndexFolder(tmp_path / "idx").vectors()
    assert ids == list(src.passages) and sorted(ids) == sorted(stored_ids)
    assert np.array_equal(vecs, np.asarray(stored)[[stored_ids.index(i) for i in ids]])
    version_dir = IndexFolder(tmp_path / "idx").version_dir()  # a version folder works as well
    assert np.array_equal(dense_pool_vectors(NoEncoding(kb.encoder.identity()), src, version_dir)[1], vecs)
    for key, value in [("name", "another-model"), ("dim", 64), ("weights_sha256", "0" * 64), ("max_seq_length", 64)]:
        other = NoEncoding({**kb.encoder.identity(), key: value})
        with pytest.raises(KbqaError, match=f"{key} .* vs .*{value}.*drop --mine-index"):
            dense_pool_vectors(other, src, tmp_path / "idx")


# ---- LiveQA in cross-validation --------------------------------------------------------------------
def _liveqa_splits(tmp_path):
    liveqa = tmp_path / "liveqa.json"
    liveqa.write_text(json.dumps({"train": [], "dev": ["T1-Q1", "T1-Q2", "T2-1", "T2-2"],
                                  "folds": [["T1-Q1"], ["T1-Q2", "T2-1", "T2-2"]]}))
    medquad = tmp_path / "medquad.json"
    medquad.write_text(json.dumps({"train": ["CancerGov:0000001_1-1", "NINDS:0000007-1"], "dev": []}))
    return liveqa, medquad


def test_liveqa_source_trains_on_the_other_folds_and_keeps_held_out_answers_out(tmp_path):
    from kbqa.tune.pairs import liveqa_source

    liveqa, medquad = _liveqa_splits(tmp_path)
    src = liveqa_source(WordChunker(), DATA / "liveqa", liveqa, 0, DATA / "corpus" / "medquad", medquad)
    assert not any(qid.startswith("T1-Q1:") for qid, _, _, _ in src.queries)  # the held-out fold never trains
    # T1-Q2's second answer repeats T1-Q1's (merged under T1-Q1-S1-A1): it answers a held-out question, so
    # it is neither a positive nor a negative, and neither is MedQuAD's copy of T1-Q1's other answer
    docs = set(src.passage_doc.values())
    assert {"T1-Q1-S1-A1", "T1-Q1-S1-A2", "NINDS:0000007-1"}.isdisjoint(docs)
    assert {"T1-Q2-S1-A1", "T2-1-S1-A1", "CancerGov:0000001_1-1"} <= docs  # general-collection negatives too
    assert sorted(qid for qid, _, _, _ in src.queries) == ["T1-Q2:T1-Q2-S1-A1", "T2-1:T2-1-S1-A1"]  # T2-2 asks nothing
    q2 = next(q for q in src.queries if q[0].startswith("T1-Q2"))
    assert q2[3] == frozenset({"T1-Q2-S1-A1", "T1-Q1-S1-A1"})  # what answers it is never drawn as its negative

    other = liveqa_source(WordChunker(), DATA / "liveqa", liveqa, 1, DATA / "corpus" / "medquad", medquad)
    # holding T1-Q2 out holds its answers out, T1-Q1-S1-A1 (shared) included: T1-Q1 trains on A2 alone
    assert [qid for qid, _, _, _ in other.queries] == ["T1-Q1:T1-Q1-S1-A2"]
    with pytest.raises(KbqaError, match="folds 0-1"):
        liveqa_source(WordChunker(), DATA / "liveqa", liveqa, 2, DATA / "corpus" / "medquad", medquad)

    # the final fit after the cross-validation: every fold trains, every answer is in the pool
    every = liveqa_source(WordChunker(), DATA / "liveqa", liveqa, None, DATA / "corpus" / "medquad", medquad)
    assert sorted(qid for qid, _, _, _ in every.queries) == [
        "T1-Q1:T1-Q1-S1-A1", "T1-Q1:T1-Q1-S1-A2", "T1-Q2:T1-Q1-S1-A1", "T1-Q2:T1-Q2-S1-A1", "T2-1:T2-1-S1-A1"]
    assert {"T1-Q1-S1-A1", "T1-Q1-S1-A2", "T1-Q2-S1-A1", "T2-1-S1-A1"} <= set(every.passage_doc.values())


def test_liveqa_trains_only_with_a_held_out_fold():
    from kbqa.tune.pairs import build_triplets

    with pytest.raises(KbqaError, match="--liveqa-holdout"):
        build_triplets(HashEncoder(), WordChunker(), sources=("liveqa",), data={"liveqa": str(DATA / "liveqa")})
    with pytest.raises(KbqaError, match="a fold number or none"):
        build_triplets(HashEncoder(), WordChunker(), sources=("liveqa",), data={"liveqa": str(DATA / "liveqa")},
                       liveqa_holdout="all")


def test_cli_liveqa_holdout_takes_a_fold_or_none():
    from kbqa.cli.tune import _holdout

    assert _holdout("3") == 3 and _holdout("none") == "none" and _holdout("None") == "none"
    with pytest.raises(argparse.ArgumentTypeError, match="fold number"):
        _holdout("all")


# ---- MedQuAD held out by collection -----------------------------------------------------------------
def _medquad_tree(root: Path) -> Path:
    docs = {  # folder, corpus attribute, file, focus, answers
        ("9_CDC_QA", "CDC", "0001", "Anthrax"): ["Anthrax is caused by Bacillus anthracis.", "Anthrax is treated with antibiotics."],
        ("7_SeniorHealth_QA", "NIHSeniorHealth", "0002", "Glaucoma"): ["Glaucoma damages the optic nerve."],
        ("2_GARD_QA", "GARD", "0003", "anthrax"): ["Another collection on the held-out topic anthrax."],
        ("6_NINDS_QA", "NINDS", "0004", "Holmes-Adie"): ["Holmes-Adie syndrome affects the pupil of the eye."],
    }
    for (folder, corpus, stem, focus), answers in docs.items():
        pairs = "".join(f'<pair pid="{i}"><question qid="{stem}-{i}" qtype="information">what is {focus} ?</question>'
                        f"<answer>{a}</answer></pair>" for i, a in enumerate(answers, 1))
        (root / folder).mkdir(parents=True)
        (root / folder / f"{stem}.xml").write_text(
            f'<?xml version="1.0" encoding="UTF-8"?><doc docid="{stem}" corpus="{corpus}" url="http://x/{stem}">'
            f"<doctitle-focus>{focus}</doctitle-focus><qaPairs>{pairs}</qaPairs></doc>")
    return root


def test_collection_split_holds_out_whole_collections_and_their_topics(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("mcs", Path(__file__).parents[1] / "eval/splits/make_medquad_collections_split.py")
    mcs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mcs)
    split = mcs.make(str(_medquad_tree(tmp_path / "mq")))
    assert sorted(split["dev"]) == ["CDC:0001-1", "CDC:0001-2", "NIHSeniorHealth:0002-1"]
    assert split["train"] == ["NINDS:0004-1"]
    assert split["excluded"] == ["GARD:0003-1"]  # another collection, but on a held-out topic
    assert not set(split["train"]) & set(split["dev"])
    with pytest.raises(SystemExit, match="unknown collection"):
        mcs.make(str(tmp_path / "mq"), ("NoSuchCollection",))

    # training reads the given split: only its train part becomes queries, its dev part stays out of the pool
    from kbqa.tune.pairs import build_triplets

    path = tmp_path / "medquad-collections.json"
    path.write_text(json.dumps(split))
    _, info = build_triplets(HashEncoder(), WordChunker(), sources=("medquad",), data={"medquad": str(tmp_path / "mq")},
                             splits={"medquad": str(path)}, max_pairs=10)
    assert info["sources"]["medquad"]["train_queries"] == 1 and info["sources"]["medquad"]["pool_passages"] == 1
    assert str(path) in info["files"]
    with pytest.raises(KbqaError, match="no such split file"):
        build_triplets(HashEncoder(), WordChunker(), sources=("medquad",), splits={"medquad": str(tmp_path / "nope.json")})
    with pytest.raises(KbqaError, match="only .* have split files"):
        build_triplets(HashEncoder(), WordChunker(), sources=("medquad",), splits={"claims": str(path)})
