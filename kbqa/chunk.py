"""Document -> Chunks with langchain-text-splitters, sized in the embedder's own tokens.

Every chunk is an exact substring of its document (``text[start:end]``), so evidence can be
highlighted later, and no chunk (plus its title prefix) exceeds what the embedder reads: nothing
is silently truncated by the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kbqa.config import ChunkConfig
from kbqa.types import Chunk, Document

TITLE_SEPARATOR = "\n\n"
MIN_BUDGET = 16  # a title so long that fewer tokens remain is cut (for embedding only)


def embed_text(chunk: Chunk, cfg: ChunkConfig) -> str:
    """The text the embedder (and BM25) sees for a chunk: its title prefix, then the chunk."""
    if cfg.include_title and chunk.title and chunk.title != chunk.text:
        return chunk.title + TITLE_SEPARATOR + chunk.text
    return chunk.text


class Chunker:
    """Splits documents with a recursive splitter whose length function is the model tokenizer.

    ``max_tokens`` is what the embedder reads without truncation, special tokens excluded.
    """

    def __init__(self, cfg: ChunkConfig, tokenizer: Any, max_tokens: int) -> None:
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self._splitters: dict[int, Any] = {}
        # token counts of the pieces of the document being split: the recursive splitter asks for the
        # same pieces again and again (merging, overlaps), ~12 counts per chunk; kept for one document
        # only (a corpus-wide cache would also hide the cost of text that merely repeats)
        self._memo: dict[str, int] | None = None
        # the Rust tokenizer behind a fast HF tokenizer counts ~10x quicker than .tokenize()
        # (a private copy: the model's own one may pad or truncate, which would falsify counts)
        self._fast = None
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            from tokenizers import Tokenizer

            self._fast = Tokenizer.from_str(backend.to_str())
            self._fast.no_padding()
            self._fast.no_truncation()

    def n_tokens(self, text: str) -> int:
        memo = self._memo
        if memo is not None and text in memo:
            return memo[text]
        if self._fast is not None:
            n = len(self._fast.encode(text, add_special_tokens=False))
        else:
            n = len(self.tokenizer.tokenize(text))
        if memo is not None:
            memo[text] = n
        return n

    def _splitter(self, budget: int) -> Any:
        if budget not in self._splitters:
            from langchain_text_splitters import RecursiveCharacterTextSplitter

            self._splitters[budget] = RecursiveCharacterTextSplitter(
                chunk_size=budget,
                chunk_overlap=min(self.cfg.overlap, budget // 4),
                length_function=self.n_tokens,
                # separators are kept at the start of pieces, so each chunk is an exact substring
                keep_separator="start",
                separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
                strip_whitespace=True,
            )
        return self._splitters[budget]

    def budget_for(self, title: str) -> int:
        budget = min(self.cfg.size, self.max_tokens)
        if self.cfg.include_title and title:
            budget = max(MIN_BUDGET, min(budget, self.max_tokens - self.n_tokens(title + TITLE_SEPARATOR)))
        return budget

    def split(self, doc: Document) -> list[Chunk]:
        self._memo = {}
        try:
            return self._split(doc)
        finally:
            self._memo = None

    def _split(self, doc: Document) -> list[Chunk]:
        text = doc.text
        budget = self.budget_for(doc.title)
        if self.n_tokens(text) <= budget:
            pieces = [text.strip()]
        else:
            pieces = self._splitter(budget).split_text(text)
        chunks: list[Chunk] = []
        cursor = 0
        for piece in pieces:
            if not piece:
                continue
            start = text.find(piece, cursor)
            if start < 0:  # cannot happen with keep_separator; guard against splitter changes
                raise AssertionError(f"chunk of {doc.doc_id!r} is not a substring of its document")
            for s, e in self._hard_split(text, start, start + len(piece), budget):
                chunks.append(
                    Chunk(
                        chunk_id=f"{doc.doc_id}#{len(chunks)}",
                        doc_id=doc.doc_id,
                        text=text[s:e],
                        start=s,
                        end=e,
                        title=doc.title,
                        meta=doc.meta,
                    )
                )
            cursor = start + 1
        return chunks

    def _hard_split(self, text: str, start: int, end: int, budget: int) -> Iterator[tuple[int, int]]:
        """Rare: a merged piece tokenises longer than the sum of its parts. Halve it until it fits.

        Counts with the private tokenizer copy only: the model's own tokenizer is in use by the
        embedding thread, and transformers changes its padding/truncation state on every call.
        """
        if end - start <= 1 or self.n_tokens(text[start:end]) <= budget:
            yield start, end
            return
        mid = (start + end) // 2
        space = text.rfind(" ", start + 1, mid + 1)
        mid = space if space > start else mid
        yield from self._hard_split(text, start, mid, budget)
        while mid < end and text[mid].isspace():  # chunks stay stripped
            mid += 1
        yield from self._hard_split(text, mid, end, budget)
