"""manifest.json: what an index version is, and the checks ``load`` makes against it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kbqa.config import fingerprint
from kbqa.errors import KbqaError
from kbqa.types import Document

FORMAT = "kbqa-index"
FORMAT_VERSION = 1


def document_checksum(doc: Document) -> str:
    """Changes whenever anything that is indexed or cited about the document changes."""
    blob = json.dumps(
        {"title": doc.title, "text": doc.text, "meta": doc.meta}, sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_DIGEST_MOD = 1 << 256


def _term(doc_id: str, checksum: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{doc_id}\0{checksum}".encode("utf-8")).digest(), "big")


class DocumentsDigest:
    """An order-free digest of a version's documents (id, checksum): the sum of their sha256 modulo 2**256
    (a multiset hash). It is what the manifest records instead of a corpus-sized id -> checksum map, so
    an update computes the new version's digest from the base's in time proportional to the update
    (minus the replaced documents, plus the fresh ones), and a fresh build of the same documents gets
    the same digest whatever their order or segments."""

    def __init__(self, value: str | int = 0) -> None:
        self.value = int(value, 16) if isinstance(value, str) else int(value)

    def add(self, doc_id: str, checksum: str) -> None:
        self.value = (self.value + _term(doc_id, checksum)) % _DIGEST_MOD

    def remove(self, doc_id: str, checksum: str) -> None:
        self.value = (self.value - _term(doc_id, checksum)) % _DIGEST_MOD

    def hex(self) -> str:
        return f"{self.value:064x}"


def documents_digest(pairs: Iterable[tuple[str, str]]) -> str:
    """The :class:`DocumentsDigest` of (doc id, checksum) pairs."""
    digest = DocumentsDigest()
    for doc_id, checksum in pairs:
        digest.add(doc_id, checksum)
    return digest.hex()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The documents digest a manifest records (computed from the id -> checksum map of manifests
    written before kbqa recorded the digest)."""
    if "documents_digest" in manifest:
        return str(manifest["documents_digest"])
    return documents_digest(manifest["documents"].items())


def index_fingerprint(manifest: dict[str, Any]) -> str:
    return fingerprint(
        {
            "embedder": {k: manifest["embedder"].get(k) for k in ("name", "dim", "weights_sha256", "max_seq_length")},
            "chunker": manifest["chunker"],
            "index": manifest["index"],
            # manifests written before the digest: their document map, as their fingerprint was computed
            "documents": manifest["documents_digest"] if "documents_digest" in manifest else manifest["documents"],
        }
    )


def read_manifest(version_dir: Path) -> dict[str, Any]:
    path = version_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KbqaError(f"{path} is missing: this is not a kbqa index version") from None
    except json.JSONDecodeError as exc:
        raise KbqaError(f"{path} is not valid JSON ({exc}); run `kbqa index check`") from None
    if manifest.get("format") != FORMAT:
        raise KbqaError(f"{path}: not a kbqa index manifest (format={manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise KbqaError(
            f"{path}: index format version {manifest.get('format_version')} is not supported by this kbqa "
            f"(format version {FORMAT_VERSION}); rebuild the index with `kbqa index build ... --overwrite`"
        )
    return manifest


def summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What `kbqa index info` and the server's /index show of a manifest: counts, sources, models, settings."""
    keys = ("version", "created", "kbqa_version", "format_version", "fingerprint", "counts", "sources", "build_seconds")
    out = {k: manifest.get(k) for k in keys}
    emb = manifest["embedder"]
    out["embedder"] = {k: emb.get(k) for k in ("name", "dim", "max_seq_length", "weights_sha256")}
    out["chunker"] = manifest["chunker"]
    out["index"] = manifest["index"]
    out["deidentification"] = manifest.get("deidentification")
    out["segments"] = manifest.get("segments")  # None for a one-piece version
    return out


def check_embedder(manifest: dict[str, Any], identity: dict[str, Any], where: Path) -> None:
    """Refuse to query an index with a model other than the one that built it."""
    built = manifest["embedder"]
    problems = []
    if built["dim"] != identity["dim"]:
        problems.append(f"dimension {built['dim']} vs {identity['dim']}")
    if built.get("weights_sha256") and identity.get("weights_sha256") and built["weights_sha256"] != identity["weights_sha256"]:
        problems.append("different model weights")
    if built.get("max_seq_length") != identity.get("max_seq_length"):
        problems.append(f"max_seq_length {built.get('max_seq_length')} vs {identity.get('max_seq_length')}")
    if problems:
        raise KbqaError(
            f"the index at {where} was built with embedder {built['name']!r}, but the model loaded now "
            f"({identity['name']!r} at {identity['path']}) differs: {', '.join(problems)}. Query it with the "
            "same model, or rebuild it with `kbqa index build SOURCE --index DIR --overwrite`."
        )


def require_same_embedder(manifest: dict[str, Any], identity: dict[str, Any], where: Path, hint: str) -> None:
    """Refuse to reuse an index's stored vectors unless the model at hand is the one that built it:
    same name, dimension, weights (sha256, required on both sides) and maximum sequence length."""
    built = manifest["embedder"]
    problems = [
        f"{key} {built.get(key)!r} vs {identity.get(key)!r}"
        for key in ("name", "dim", "weights_sha256", "max_seq_length")
        if built.get(key) is None or built.get(key) != identity.get(key)
    ]
    if problems:
        raise KbqaError(
            f"the index at {where} was built by another embedder than the one loaded now "
            f"(index vs loaded: {'; '.join(problems)}), so its vectors cannot be reused; {hint}"
        )
