"""Streaming, resumable builds (kbqa.index.build.build_version, kbqa.index.resume): bounded batches,
a counting loader, and interruptions that resume at the last completed batch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kbqa.errors import KbqaError
from kbqa.index.build import build_version
from kbqa.index.check import check_index
from kbqa.index.resume import BUILD_PREFIX, PROGRESS, BuildProgress
from kbqa.index.store import IndexFolder
from kbqa.pipeline import KnowledgeBase
from kbqa.types import Document

N_DOCS = 60
BLOCK = 4
WORDS = "aspirin warfarin statin metformin bleeding stroke kidney muscle fracture insulin".split()


def documents(n: int = N_DOCS):
    for i in range(n):
        words = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(6 + i % 9))
        yield Document(f"d{i}", f"Study {i} of {words}. Patients improved.", f"Title {i}",
                       {"year": 1990 + i % 30, "mesh": [WORDS[i % len(WORDS)]]})


class CountingLoader:
    """Yields (source, document) pairs and counts how many it has handed out."""

    def __init__(self, n: int = N_DOCS) -> None:
        self.n = n
        self.produced = 0

    def __iter__(self):
        for doc in documents(self.n):
            self.produced += 1
            yield "mem", doc


class RecordingEncoder:
    """The tiny encoder, recording for every embedding call how far the loader had run ahead of it."""

    def __init__(self, encoder, loader: CountingLoader | None = None, fail_at: int | None = None) -> None:
        self._encoder = encoder
        self.loader = loader
        self.fail_at = fail_at
        self.calls = 0
        self.embedded: set[str] = set()
        self.ahead: list[int] = []
        self.batch_sizes: list[int] = []

    def __getattr__(self, name):  # tokenizer, dim, identity, max_tokens, encode_queries ...
        return getattr(self._encoder, name)

    def encode_passages(self, texts):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt
        self.batch_sizes.append(len(texts))
        if self.loader is not None:
            self.ahead.append(self.loader.produced - len(self.embedded))
        out = self._encoder.encode_passages(texts)
        return out

    def note(self, chunks) -> None:
        self.embedded.update(c.doc_id for c in chunks)


SOURCES = [{"source": "mem", "path": "in-memory", "format": "jsonl"}]


def _build(root: Path, encoder, cfg, docs) -> str:
    folder = IndexFolder(root)
    with folder.lock():
        name, _ = build_version(folder, docs, encoder=encoder, config=cfg, sources=SOURCES,
                                counts=lambda: {}, progress=False, block=BLOCK)
    return name


@pytest.fixture(scope="module")
def fresh(encoder, tiny_cfg, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fresh") / "idx"
    _build(root, encoder, tiny_cfg, CountingLoader())
    return root


def test_loader_never_runs_far_ahead_of_the_writer(encoder, tiny_cfg, tmp_path, monkeypatch):
    """Peak memory of the document side is bounded: the loader is read only a few batches ahead of
    what has been embedded and written, whatever the corpus size."""
    import kbqa.index.build as build

    loader = CountingLoader()
    rec = RecordingEncoder(encoder, loader)
    real_add = build.VersionWriter.add_chunks

    def add_chunks(self, chunks, vectors):
        rec.note(chunks)
        return real_add(self, chunks, vectors)

    monkeypatch.setattr(build.VersionWriter, "add_chunks", add_chunks)
    _build(tmp_path / "idx", rec, tiny_cfg, loader)
    assert loader.produced == N_DOCS and len(rec.batch_sizes) > N_DOCS // (2 * BLOCK)
    # each chunk batch is about BLOCK chunks (a document's chunks stay together)
    assert max(rec.batch_sizes) < 4 * BLOCK
    # the background chunker holds at most 2 blocks in its queue, plus one being built
    assert max(rec.ahead) <= 4 * BLOCK, rec.ahead


@pytest.mark.parametrize("where", ["embedding", "after-checkpoint"])
def test_interrupted_build_resumes_at_the_last_batch(where, encoder, tiny_cfg, fresh, tmp_path, monkeypatch):
    root = tmp_path / "idx"
    if where == "embedding":  # dies inside a batch: its rows are written but not checkpointed
        with pytest.raises(KeyboardInterrupt):
            _build(root, RecordingEncoder(encoder, fail_at=9), tiny_cfg, CountingLoader())
    else:  # dies after the batch's files and store are durable, before progress.json records it
        real_save, calls = BuildProgress.save, []

        def save(self, state):
            calls.append(state)
            if len(calls) == 9:
                raise KeyboardInterrupt
            return real_save(self, state)

        monkeypatch.setattr(BuildProgress, "save", save)
        with pytest.raises(KeyboardInterrupt):
            _build(root, encoder, tiny_cfg, CountingLoader())
        monkeypatch.setattr(BuildProgress, "save", real_save)
    folder = IndexFolder(root)
    assert not folder.exists()
    staging = [p for p in root.iterdir() if p.name.startswith(BUILD_PREFIX)]
    assert len(staging) == 1 and (staging[0] / PROGRESS).is_file()
    saved = json.loads((staging[0] / PROGRESS).read_text())["chunks"]
    assert not (root / "CURRENT").exists()

    rec = RecordingEncoder(encoder)
    _build(root, rec, tiny_cfg, CountingLoader())
    total = KnowledgeBase.load(fresh, encoder=encoder).manifest["counts"]["chunks"]
    assert saved >= 6 * BLOCK and sum(rec.batch_sizes) == total - saved  # only what was not checkpointed is embedded
    assert not any(p.name.startswith(BUILD_PREFIX) for p in root.iterdir())
    assert check_index(root).ok
    a, b = folder.version_dir(), IndexFolder(fresh).version_dir()
    for name in ("documents.jsonl", "chunks.jsonl", "ids.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    np.testing.assert_array_equal(np.load(a / "vectors.npy"), np.load(b / "vectors.npy"))
    resumed, whole = KnowledgeBase.load(root, encoder=encoder), KnowledgeBase.load(fresh, encoder=encoder)
    assert list(resumed.iter_chunks()) == list(whole.iter_chunks())
    for f in (None, {"year_min": 2000}, {"mesh": "statin"}):
        assert resumed.search("warfarin bleeding", k=8, filters=f) == whole.search("warfarin bleeding", k=8, filters=f)


def test_other_settings_start_over(encoder, tiny_cfg, tmp_path):
    """A partial build of other sources or settings is not continued: its folder is replaced."""
    root = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        _build(root, RecordingEncoder(encoder, fail_at=5), tiny_cfg, CountingLoader())
    (old,) = [p for p in root.iterdir() if p.name.startswith(BUILD_PREFIX)]
    other = tiny_cfg.replace(chunk={"overlap": 0})
    rec = RecordingEncoder(encoder)
    _build(root, rec, other, CountingLoader(40))
    assert not old.exists() and KnowledgeBase.load(root, encoder=encoder).manifest["counts"]["documents"] == 40


def test_same_build_command_resumes_without_overwrite(tiny_cfg, tmp_path, monkeypatch):
    """The public path: KnowledgeBase.build (what `kbqa index build` runs) interrupted, then run again."""
    import kbqa.index.build as build

    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": d.doc_id, "title": d.title, "text": d.text, **d.meta}) + "\n"
                            for d in documents(40)))
    monkeypatch.setattr(build, "BLOCK", BLOCK)
    real, calls = build.embed_chunks, []

    def embed_chunks(encoder, chunks, config):
        calls.append(len(chunks))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(encoder, chunks, config)

    monkeypatch.setattr(build, "embed_chunks", embed_chunks)
    with pytest.raises(KeyboardInterrupt):
        KnowledgeBase.build([docs], tmp_path / "idx", tiny_cfg, progress=False)
    again: list[int] = []
    monkeypatch.setattr(build, "embed_chunks", lambda e, c, cfg: again.append(len(c)) or real(e, c, cfg))
    kb = KnowledgeBase.build([docs], tmp_path / "idx", tiny_cfg, progress=False)  # no --overwrite needed
    resumed = sum(again)
    whole = KnowledgeBase.build([docs], tmp_path / "whole", tiny_cfg, progress=False)
    assert kb.version == "v000001" and len(kb) == len(whole) and check_index(kb.index_dir).ok
    assert resumed == len(kb) - sum(calls[:3]) and sum(calls[:3]) > 0  # the resumed build embedded only the rest
    assert list(kb.iter_chunks()) == list(whole.iter_chunks())
    assert kb.search("statin muscle", k=5) == whole.search("statin muscle", k=5)


@pytest.mark.parametrize("factory", ["sq8", "ivf-flat", "ivf-sq8"])
def test_trained_kind_reads_the_builds_vectors_from_disk(factory, encoder, tiny_cfg, fresh, tmp_path, monkeypatch):
    """A trained kind is not fed RAM copies during a build: it adopts the on-disk spill at the end,
    and the result equals an index fed batch by batch (same vectors, ids, trained state). IVF kinds
    add their codes on disk too (kbqa.index.ivf_lists): their faiss.index is the reference's, byte
    for byte, and no spill file is left."""
    from kbqa.index import ivf_lists
    from kbqa.index.faiss_approx import TrainedFaissIndex

    cfg = tiny_cfg.replace(index={"factory": factory})
    adopted, spilled = [], []
    real_adopt, real_add = TrainedFaissIndex.adopt, TrainedFaissIndex.add
    monkeypatch.setattr(TrainedFaissIndex, "adopt",
                        lambda self, ids, v, **kw: adopted.append(type(v)) or real_adopt(self, ids, v, **kw))
    real_spill_add = ivf_lists.ListSpill.add
    monkeypatch.setattr(ivf_lists.ListSpill, "add", lambda self, v, first: spilled.append(len(v)) or real_spill_add(self, v, first))
    monkeypatch.setattr(TrainedFaissIndex, "add", lambda *a: pytest.fail("a build buffered vectors in RAM"))
    with pytest.raises(KeyboardInterrupt):  # and resuming keeps it so
        _build(tmp_path / "idx", RecordingEncoder(encoder, fail_at=7), cfg, CountingLoader())
    _build(tmp_path / "idx", encoder, cfg, CountingLoader())
    assert adopted == [np.memmap]
    monkeypatch.setattr(TrainedFaissIndex, "add", real_add)
    kb = KnowledgeBase.load(tmp_path / "idx", encoder=encoder)
    whole = KnowledgeBase.load(fresh, encoder=encoder)
    np.testing.assert_array_equal(kb.index.vectors(), whole.index.vectors())
    reference = TrainedFaissIndex.create(whole.index.dim, kb.config.index)
    reference.add(list(whole.index.ids), np.asarray(whole.index.vectors()))
    q = encoder.encode_queries(["warfarin bleeding", "statin muscle"])
    assert kb.index.search(q, 8) == reference.search(q, 8)
    assert kb.manifest["index"]["trained_on"] == reference.describe()["trained_on"] and check_index(tmp_path / "idx").ok
    vdir = IndexFolder(tmp_path / "idx").version_dir()
    assert not list(vdir.rglob(ivf_lists.SPILL_FILE))
    if factory.startswith("ivf"):
        assert spilled == [len(whole.index.ids)]
        (tmp_path / "ref").mkdir()
        reference = TrainedFaissIndex.create(whole.index.dim, kb.config.index)  # not searched: nprobe as built
        reference.add(list(whole.index.ids), np.asarray(whole.index.vectors()))
        reference.save(tmp_path / "ref")
        for name in ("faiss.index", "labels.npy", "index.json", "ids.json"):
            assert (vdir / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name
    else:
        assert spilled == []


def _with_repeat(at: int, of: int, n: int = N_DOCS, second: str = "mem2"):
    """The documents, from two sources (``mem`` then ``second`` from document 30), with document ``at``
    carrying the id of document ``of``."""
    for i, doc in enumerate(documents(n)):
        if i == at:
            doc = Document(f"d{of}", doc.text, doc.title, doc.meta)
        yield ("mem" if i < 30 else second), doc


@pytest.mark.parametrize("at, of, sources", [
    (3, 1, ("mem", "mem")),     # inside one block
    (20, 2, ("mem", "mem")),    # a later block repeats a stored document
    (45, 7, ("mem2", "mem")),   # across sources
    (40, 35, ("mem2", "mem2")),
])
def test_repeated_id_is_named_with_both_sources(at, of, sources, encoder, tiny_cfg, tmp_path):
    """A repeated document id is caught by the store (no map of all ids is kept): the error names the id,
    the source of the repeat and of the first copy, and nothing is committed."""
    root = tmp_path / "idx"
    with pytest.raises(KbqaError) as err:
        _build(root, encoder, tiny_cfg, _with_repeat(at, of))
    assert str(err.value).startswith(f"duplicate document id 'd{of}' in {sources[0]} (first seen in {sources[1]})")
    assert not IndexFolder(root).exists() and not any(p.name.startswith(BUILD_PREFIX) for p in root.iterdir())


def test_repeated_id_after_a_resume(encoder, tiny_cfg, tmp_path):
    """Documents written before an interruption still count: a repeat of one of them is refused."""
    root = tmp_path / "idx"
    with pytest.raises(KeyboardInterrupt):
        _build(root, RecordingEncoder(encoder, fail_at=9), tiny_cfg, _with_repeat(-1, 0))
    with pytest.raises(KbqaError, match=r"duplicate document id 'd4' in mem2 \(first seen in mem\)"):
        _build(root, encoder, tiny_cfg, _with_repeat(50, 4))
