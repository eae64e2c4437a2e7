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
