"""KnowledgeBase: the Python API over an index folder. ``build`` / ``load`` / ``search`` / ``ask``."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kbqa.config import Config, SearchConfig, from_dict, opening_config
from kbqa.errors import KbqaError
from kbqa.filters import Filters
from kbqa.index.base import VectorIndex
from kbqa.index.chunkstore import STORE, ChunkStore, ChunksView, DocumentsView
from kbqa.index.factory import load_index
from kbqa.index.manifest import check_embedder, read_manifest
from kbqa.index.store import IndexFolder
from kbqa.types import Answer, Chunk, Hit

Source = str | Path


class KnowledgeBase:
    """One committed index version, loaded with its encoder. Constructed by ``build`` or ``load``."""

    def __init__(
        self,
        index_dir: Path,
        version: str,
        manifest: dict[str, Any],
        config: Config,
        encoder: Any,
        index: VectorIndex,
        store: ChunkStore,
    ) -> None:
        self.index_dir = index_dir
        self.encoder = encoder
        self._serve(version, manifest, config, index, store)

    def _serve(self, version: str, manifest: dict[str, Any], config: Config, index: VectorIndex, store: ChunkStore) -> None:
        """Hold one version: set by the constructor, and again when ``update`` moves this object on."""
        self.version = version
        self.manifest = manifest
        self.config = config
        self.index = index
        # chunk texts, offsets and citation metadata stay on disk (kbqa.index.chunkstore), read by id
        self.store = store
        self.documents: Mapping[str, dict[str, Any]] = DocumentsView(store)
        self.chunks: Mapping[str, Chunk] = ChunksView(store)
        self._lexical: Any = None

    @property
    def lexical(self) -> Any:
        """The version's BM25 index (kbqa.lexical.LexicalIndex), or None if it was built without."""
        if self._lexical is None:
            self._lexical = IndexFolder(self.index_dir).lexical(self.version)
        return self._lexical

    def with_lexical(self) -> KnowledgeBase:
        """This knowledge base with a BM25 side: itself when its version stores one, else a copy
        with one built in memory over its chunks (for versions built with ``index.lexical = false``)."""
        if self.lexical is not None:
            return self
        from kbqa.chunk import embed_text
        from kbqa.lexical import LexicalIndex

        clone = self.with_search()
        chunks = list(self.iter_chunks())
        clone._lexical = LexicalIndex.build(
            [c.chunk_id for c in chunks], [embed_text(c, self.config.chunk) for c in chunks]
        )
        return clone

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        sources: Sequence[Source] | Source,
        index_dir: str | Path,
        config: Config | None = None,
        *,
        format: str | None = None,
        overwrite: bool = False,
        mirror: str | Path | None = None,
        progress: bool = True,
        columns: dict[str, str] | None = None,
        deidentifier: Any = None,
    ) -> KnowledgeBase:
        """Index ``sources`` (files, folders or recipe names) into ``index_dir`` and load the result.

        ``deidentifier``: a ``Document -> Document`` transform applied before anything is written
        (``kbqa.deid.DocumentDeidentifier()``), recorded in the manifest.

        An existing index is refused unless ``overwrite``; with it, the new index is written
        beside the old one and replaces it only once complete (kbqa.index.build.build_index).
        """
        from kbqa.index.build import build_index

        config = config or Config()
        encoder, stats = build_index(
            [sources] if isinstance(sources, (str, Path)) else sources, index_dir, config,
            format=format, overwrite=overwrite, mirror=mirror, progress=progress, columns=columns,
            deidentifier=deidentifier,
        )
        kb = cls.load(index_dir, encoder=encoder, search=config.search)
        kb.build_stats = stats
        return kb

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        config: Config | None = None,
        *,
        version: str | None = None,
        encoder: Any = None,
        search: SearchConfig | None = None,
        query_time: dict[str, int] | None = None,
    ) -> KnowledgeBase:
        """Open the committed (or a given) version. ``config`` may change search and device
        settings, ``query_time`` the index's (nprobe, ef_search, refine); an embedder other than the
        one that built the index is refused. The merge: kbqa.config.opening_config."""
        from kbqa.embed import load_encoder

        folder = IndexFolder(index_dir)
        name = version or folder.current()
        vdir = folder.version_dir(name)
        manifest = read_manifest(vdir)
        built = from_dict(manifest["config"], source=f"{vdir}/manifest.json")
        effective = opening_config(built, config, search=search, query_time=query_time)
        if encoder is None:
            encoder = load_encoder(effective.embed)
        check_embedder(manifest, encoder.identity(), vdir)
        if manifest.get("segments"):  # an updated version: segments + deletion bitmaps (kbqa.index.segments)
            index, store, lexical = _open_segmented(folder.root, vdir, manifest, effective)
        else:
            index = load_index(vdir, effective.index, manifest["embedder"]["dim"])
            # versions written before the chunk store existed do not list it among their files
            store = ChunkStore.open(vdir, required=STORE in manifest.get("files", {}))
            lexical = None
        if len(store) != len(index):
            raise KbqaError(
                f"{vdir}: {len(store)} chunks but {len(index)} vectors; the version is damaged, run `kbqa index check`"
            )
        manifest = {**manifest, "version": name}
        kb = cls(folder.root, name, manifest, effective, encoder, index, store)
        kb._lexical = lexical
        kb.lexical  # opened now (memory-mapped): a reader keeps its BM25 side if an update prunes this version
        return kb

    def reload(self) -> KnowledgeBase:
        """The newest committed version of the same folder (self if it is already current)."""
        if IndexFolder(self.index_dir).current() == self.version:
            return self
        return type(self).load(self.index_dir, encoder=self.encoder, search=self.config.search)

    # ---- updates (kbqa.index.update) ----------------------------------------------------
    def update(
        self,
        sources: Sequence[Source] | Source = (),
        *,
        delete_ids: Iterable[str] = (),
        sync: bool = False,
        keep: int = 3,
        format: str | None = None,
        mirror: str | Path | None = None,
        columns: dict[str, str] | None = None,
        progress: bool = False,
        allow_older: bool = False,
    ) -> Any:
        """Add new documents from ``sources``, re-embed changed ones, remove ``delete_ids`` (and,
        with ``sync``, everything the sources no longer hold); commit a new version. PubMed XML
        files are applied in file-name order and recorded; applied ones are skipped (see
        kbqa.index.update; ``allow_older`` accepts a file sorting before an applied one).

        Returns an ``UpdateReport`` (kbqa.index.update). This object then serves the new current
        version; other ``KnowledgeBase`` objects keep theirs until they ``reload()``.
        """
        from kbqa.index.update import update_index

        report = update_index(
            self.index_dir, sources, delete_ids=delete_ids, sync=sync, keep=keep, encoder=self.encoder,
            format=format, mirror=mirror, columns=columns, progress=progress, allow_older=allow_older,
        )
        self._move_to_current()
        return report

    def remove(self, doc_ids: Iterable[str], *, keep: int = 3) -> Any:
        """Remove documents by id as a new version; returns an ``UpdateReport`` (see ``update``)."""
        return self.update(delete_ids=doc_ids, keep=keep)

    def _move_to_current(self) -> None:
        fresh = self.reload()
        if fresh is not self:
            self._serve(fresh.version, fresh.manifest, fresh.config, fresh.index, fresh.store)
            self._lexical = fresh._lexical  # opened at load: kept if a later update prunes that version

    # ---- queries ------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    def __len__(self) -> int:
        return len(self.store)

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every chunk in index order, streamed from the store."""
        return self.store.iter_chunks()

    def get_chunk(self, chunk_id: str) -> Chunk:
        chunk = self.store.chunk(chunk_id)
        if chunk is None:
            raise KbqaError(f"no chunk {chunk_id!r} in the index at {self.index_dir}")
        return chunk

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        """The chunks of one document, in document order ([] for an unknown id)."""
        return self.store.document_chunks(doc_id)

    def _allowed(self, filters: Filters) -> frozenset[str] | None:
        """Chunk ids passing ``filters`` (None = everything, the fast path); answered by the store."""
        if filters.is_trivial and (filters.include_retracted or not self.store.any_retracted):
            return None
        return self.store.allowed(filters)

    def _filters(self, filters: Filters | dict[str, Any] | None) -> Filters:
        # a filter that leaves include_retracted unset keeps the configured default
        return Filters.parse(filters).with_retracted_default(not self.config.search.exclude_retracted)

    def search(self, query: str, k: int | None = None, filters: Filters | dict[str, Any] | None = None,
               intent: Any = None) -> list[Hit]:
        """The ``k`` best chunks for ``query``; ``k`` is clamped to the index size."""
        return self.search_many([query], k, filters, None if intent is None else [intent])[0]

    def search_many(
        self, queries: Sequence[str], k: int | None = None, filters: Filters | dict[str, Any] | None = None,
        intents: Sequence[Any] | None = None,
    ) -> list[list[Hit]]:
        """Batched search: one list of hits per query, in the same order. With ``search.typed`` on, passages
        of the question's type about its focus are preferred (kbqa.intent.prefer); ``intents`` (one
        kbqa.types.Intent per query) skips detecting them again."""
        k = self.config.search.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise KbqaError(f"k must be a positive integer, got {k!r}")
        queries = list(queries)
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise KbqaError(f"query {i} is empty; give a question or keywords")
        if not queries:
            return []
        from kbqa.retrieve import rank

        allowed = self._allowed(self._filters(filters))
        cfg = self.config.search
        typed = cfg.typed and cfg.typed_section_weight + cfg.typed_focus_weight > 0
        # deeper only without the reranker: without it a deeper ranking starts with the same k
        depth = max(k, cfg.typed_depth) if typed and not cfg.rerank else k
        results = rank(
            queries, depth, cfg=cfg, encoder=self.encoder, index=self.index, lexical=self.lexical,
            allowed=allowed, passage=self._passage, device=self.config.embed.device,
        )
        if typed:
            from kbqa.intent.detect import detect_intents, lexicon_for
            from kbqa.intent.prefer import prefer_many

            intents = list(intents) if intents is not None else detect_intents(queries, lexicon_for(self))
            results = [r[:k] for r in prefer_many(
                results, intents, self.chunks.__getitem__, min_confidence=cfg.typed_min_confidence,
                section_weight=cfg.typed_section_weight, focus_weight=cfg.typed_focus_weight, depth=cfg.typed_depth)]
        found = self.store.chunks({cid for row in results for cid, _ in row})
        return [[self._hit(found[cid], score) for cid, score in row] for row in results]

    def _passage(self, chunk_id: str) -> str:
        from kbqa.chunk import embed_text

        return embed_text(self.get_chunk(chunk_id), self.config.chunk)

    @property
    def reranker(self) -> Any:
        """The cross-encoder of ``search.rerank`` (kbqa.rerank.Reranker), loaded once per process; None when off."""
        from kbqa.rerank import reranker_for

        return reranker_for(self.config.search, self.config.embed.device)

    @staticmethod
    def _hit(c: Chunk, score: float) -> Hit:
        return Hit(chunk_id=c.chunk_id, doc_id=c.doc_id, score=score, text=c.text, title=c.title, meta=c.meta, start=c.start, end=c.end)

    def with_search(self, **settings: Any) -> KnowledgeBase:
        """The same loaded index and models with other search settings, e.g. ``kb.with_search(mode="hybrid")``."""
        clone = copy.copy(self)  # shares the loaded index, chunks and encoder
        clone.config = self.config.replace(search=settings)
        return clone

    # ---- answers (the reader lives in kbqa.read; the DDI check takes a kb: kbqa.ddi.interactions.check)
    def ask(self, question: str, k: int = 10, reader: Any = None) -> Answer:
        """A verdict with calibrated confidence and cited evidence (see kbqa.read.answer)."""
        from kbqa.read.answer import answer

        return answer(self, question, k=k, reader=reader)


def _open_segmented(root: Path, vdir: Path, manifest: dict[str, Any], config: Config) -> tuple[Any, Any, Any]:
    """(dense index, chunk store, BM25 side or None) over the segments a version lists."""
    from kbqa.index.segment_lexical import SegmentedLexical
    from kbqa.index.segment_store import SegmentedStore
    from kbqa.index.segments import SegmentedIndex, open_segments

    segments = open_segments(root, vdir, manifest, config.index, manifest["embedder"]["dim"], lexical=config.index.lexical)
    lexical = None
    if config.index.lexical and all(s.lexical is not None for s in segments):
        parts, deleted, where = [], [], []
        for s in segments:  # a segment's lexical side may itself be in parts: each gets its share of the bitmap
            start = 0
            for path, lex in s.lexical:
                parts.append(lex)
                deleted.append(None if s.deleted is None else s.deleted[start:start + len(lex)])
                where.append(str(path))
                start += len(lex)
        lexical = SegmentedLexical(parts, deleted, where)
    return SegmentedIndex(segments), SegmentedStore(segments, int(manifest["counts"]["documents"])), lexical
