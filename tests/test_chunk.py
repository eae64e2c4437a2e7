"""Token-aware chunking: exact substrings, within the model's window, sensible sizes."""

from __future__ import annotations

import pytest

from kbqa.chunk import Chunker, embed_text
from kbqa.config import ChunkConfig, EmbedConfig
from kbqa.embed import load_encoder
from kbqa.errors import KbqaError
from kbqa.types import Document

TEXT = (
    "Metformin is a first-line therapy for type 2 diabetes mellitus.\n\n"
    + " ".join(f"Sentence {i} describes renal function, lactate and dose adjustment in detail." for i in range(60))
    + "\n\nConclusion: use with care when eGFR is below 30 mL/min."
)


@pytest.fixture(scope="module")
def encoder(tiny_encoder_dir):
    # loaded the way the pipeline loads it: a sentence-transformers tokenizer may pad/truncate
    return load_encoder(EmbedConfig(model=str(tiny_encoder_dir)))


def test_counts_are_not_capped_by_the_model_tokenizer(encoder):
    chunker = Chunker(ChunkConfig(), encoder.tokenizer, encoder.max_tokens)
    assert chunker.n_tokens(TEXT) == len(encoder.tokenizer.tokenize(TEXT)) > 500
    assert chunker.n_tokens("two words") == 2


@pytest.mark.parametrize("size,overlap", [(40, 8), (100, 0), (200, 32)])
def test_chunks_are_substrings_within_budget(encoder, size, overlap):
    cfg = ChunkConfig(size=size, overlap=overlap)
    chunker = Chunker(cfg, encoder.tokenizer, encoder.max_tokens)
    doc = Document("d1", TEXT, title="Metformin in renal impairment")
    chunks = chunker.split(doc)
    budget = chunker.budget_for(doc.title)
    assert budget == min(size, encoder.max_tokens - chunker.n_tokens(doc.title + "\n\n"))
    assert [c.chunk_id for c in chunks] == [f"d1#{i}" for i in range(len(chunks))]
    for c in chunks:
        assert TEXT[c.start : c.end] == c.text
        assert chunker.n_tokens(embed_text(c, cfg)) <= encoder.max_tokens
        assert chunker.n_tokens(c.text) <= budget
    # no degenerate splitting: chunks use a good part of the budget on average
    sizes = [chunker.n_tokens(c.text) for c in chunks]
    assert sum(sizes) / len(sizes) >= budget / 2
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT)
    assert all(a.start < b.start for a, b in zip(chunks, chunks[1:]))


def test_short_document_is_one_chunk(encoder):
    chunker = Chunker(ChunkConfig(), encoder.tokenizer, encoder.max_tokens)
    (chunk,) = chunker.split(Document("x", "  Aspirin reduces fever.  ", title="t"))
    assert chunk.text == "Aspirin reduces fever." and (chunk.start, chunk.end) == (2, 24)


def test_text_without_separators_is_still_split(encoder):
    chunker = Chunker(ChunkConfig(size=20, overlap=0), encoder.tokenizer, encoder.max_tokens)
    text = "aspirin-" * 300  # no separator but "": falls back to character splitting
    chunks = chunker.split(Document("y", text))
    assert len(chunks) > 5 and all(chunker.n_tokens(c.text) <= 20 for c in chunks)


def test_bad_chunk_config():
    with pytest.raises(KbqaError, match="overlap"):
        ChunkConfig(size=50, overlap=50)
    with pytest.raises(KbqaError, match="size"):
        ChunkConfig(size=2)


def test_hard_split_halves_an_overlong_piece(encoder):
    chunker = Chunker(ChunkConfig(size=10, overlap=0), encoder.tokenizer, encoder.max_tokens)
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    spans = list(chunker._hard_split(text, 0, len(text), 4))
    assert len(spans) > 3 and spans[0][0] == 0 and spans[-1][1] == len(text)
    for s, e in spans:
        assert chunker.n_tokens(text[s:e]) <= 4 and text[s:e] == text[s:e].strip()


def test_chunking_never_touches_the_shared_tokenizer(encoder, monkeypatch):
    """The embedding thread uses the model tokenizer concurrently; chunking must not call it."""
    chunker = Chunker(ChunkConfig(size=40, overlap=8), encoder.tokenizer, encoder.max_tokens)

    def forbidden(*a, **k):
        raise AssertionError("chunker called the model's tokenizer")

    monkeypatch.setattr(type(encoder.tokenizer), "__call__", forbidden)
    monkeypatch.setattr(type(encoder.tokenizer), "tokenize", forbidden)
    assert len(chunker.split(Document("d", TEXT, title="t"))) > 3
