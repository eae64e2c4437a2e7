"""PubMed/MEDLINE XML (``<PubmedArticleSet>``, baseline and update files, plain or ``.gz``).

Files are streamed with ``iterparse`` and each article is cleared once read, so a 30k-article
baseline file never sits in memory as a tree. ``<DeleteCitation>`` PMIDs are collected into
``LoadStats.deleted`` for incremental updates. A PMID repeated in a *later* file is a revised
record (update files supersede the baseline); callers that merge several files keep the last one.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kbqa.corpus.base import LoadStats, open_binary
from kbqa.errors import InputError
from kbqa.types import Document

SUFFIXES = (".xml", ".xml.gz")
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def _text(element: ET.Element | None) -> str:
    """All text inside an element (inline markup such as <i> or <sup> kept as plain text)."""
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _year(article: ET.Element) -> int | None:
    pub = article.find("Journal/JournalIssue/PubDate")
    if pub is not None:
        year = pub.findtext("Year")
        if year and year.strip().isdigit():
            return int(year)
        match = _YEAR.search(pub.findtext("MedlineDate") or "")
        if match:
            return int(match.group(1))
    year = article.findtext("ArticleDate/Year")
    return int(year) if year and year.strip().isdigit() else None


def _abstract(article: ET.Element) -> str:
    parts = []
    for section in article.findall("Abstract/AbstractText"):
        body = _text(section)
        if body:
            label = (section.get("Label") or "").strip()
            parts.append(f"{label}: {body}" if label else body)
    return "\n\n".join(parts)


def _document(citation: ET.Element, record: ET.Element, path: Path, stats: LoadStats) -> Document | None:
    pmid = (citation.findtext("PMID") or "").strip()
    if not pmid:
        raise InputError("a <MedlineCitation> without <PMID>; is this a PubMed XML file?", path=str(path))
    article = citation.find("Article")
    if article is None:
        raise InputError(f"PMID {pmid}: no <Article> element", path=str(path))
    text = _abstract(article)
    if not text:
        stats.skipped_empty += 1
        return None
    types = [_text(t) for t in article.findall("PublicationTypeList/PublicationType")]
    retracted = "Retracted Publication" in types or any(
        c.get("RefType") == "RetractionIn" for c in citation.findall("CommentsCorrectionsList/CommentsCorrections")
    )
    stats.retracted += retracted
    meta: dict[str, Any] = {
        "source": "pubmed",
        "pmid": pmid,
        "url": f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
        "journal": _text(article.find("Journal/Title")),
        "mesh": [_text(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")],
        "publication_types": types,
        "retracted": retracted,
    }
    year = _year(article)
    if year is not None:
        meta["year"] = year
    for article_id in record.findall("PubmedData/ArticleIdList/ArticleId"):
        if article_id.get("IdType") == "doi" and article_id.text:
            meta["doi"] = article_id.text.strip()
    return Document(doc_id=pmid, text=text, title=_text(article.find("ArticleTitle")), meta=meta)


def iter_file(
    path: Path, *, stats: LoadStats, ids: Any = None, columns: Mapping[str, str] | None = None
) -> Iterator[Document]:
    """Documents of one PubMed XML file; a PMID twice in the same file is an error."""
    if columns:
        raise InputError("column mappings apply to jsonl/csv/tsv only, not to pubmed", path=str(path))
    seen: set[str] = set()
    fh = open_binary(path)
    try:
        events = ET.iterparse(fh, events=("start", "end"))
        _, root = next(events)
        if root.tag != "PubmedArticleSet":
            raise InputError(f"root element is <{root.tag}>, expected <PubmedArticleSet>", path=str(path))
        for event, element in events:
            if event != "end":
                continue
            if element.tag == "PubmedArticle":
                citation = element.find("MedlineCitation")
                if citation is None:
                    raise InputError("a <PubmedArticle> without <MedlineCitation>", path=str(path))
                doc = _document(citation, element, path, stats)
                root.clear()  # drop finished articles: memory stays flat on large files
                if doc is None:
                    continue
                if doc.doc_id in seen:
                    raise InputError(f"PMID {doc.doc_id} occurs twice in this file; keep one record",
                                     path=str(path))
                seen.add(doc.doc_id)
                yield doc
            elif element.tag == "DeleteCitation":
                stats.deleted.extend(p.text.strip() for p in element.findall("PMID") if p.text)
                root.clear()
            elif element.tag == "PubmedBookArticle":
                root.clear()  # NCBI Bookshelf records have no MEDLINE abstract structure
    except ET.ParseError as exc:
        raise InputError(f"broken XML: {exc}; re-download the file", path=str(path),
                         line=exc.position[0]) from None
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise InputError(f"cannot read: {exc}; re-download the file", path=str(path)) from None
    finally:
        fh.close()
