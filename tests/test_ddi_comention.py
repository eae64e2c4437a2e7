"""The co-mention dev set definition: loaded by shape, then checked against the text at its offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.ddi.comention import load_definition, materialise, sentence_sha256
from kbqa.errors import InputError
from kbqa.types import Document

TEXT = "Intro. When used with statins, fibrates may increase the risk of muscle problems. End."
SENTENCE = "When used with statins, fibrates may increase the risk of muscle problems."


def _row(**change: object) -> dict:
    a = TEXT.index(SENTENCE)
    s, f = TEXT.index("statins"), TEXT.index("fibrates")
    row = {"id": "cm1", "source": "medquad", "stratum": "cue", "doc_id": "X:1", "start": a, "end": a + len(SENTENCE),
           "sha256": sentence_sha256(SENTENCE), "drug1": {"name": "statins", "start": s, "end": s + 7},
           "drug2": {"name": "fibrates", "start": f, "end": f + 8}, "label": "stated"}
    return {**row, **change}


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "definition.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_definition_rebuilds_its_sentences(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row()])
    (s,) = materialise(load_definition(path), {"X:1": Document("X:1", TEXT)}, path)
    assert s.text == SENTENCE and s.stated and s.item.drug1.name == "statins"


def test_offsets_that_no_longer_match_the_text_are_refused_naming_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, [_row(id="cm0", label="not_stated"), _row()])
    items = load_definition(path)
    changed = {"X:1": Document("X:1", "A new first line. " + TEXT)}  # the dataset changed: offsets shifted
    with pytest.raises(InputError, match=r"definition\.jsonl:1: the text of 'X:1' at \d+-\d+ no longer matches"):
        materialise(items, changed, path)
    with pytest.raises(InputError, match=r"definition\.jsonl:2: document 'X:1' is not in the corpus"):
        materialise(items[1:], {}, path)
    moved = _row(drug2={"name": "fibrates", "start": TEXT.index("muscle"), "end": TEXT.index("muscle") + 8})
    path = _write(tmp_path, [moved])
    with pytest.raises(InputError, match=r"definition\.jsonl:1: drug2 'fibrates' is not at"):
        materialise(load_definition(path), {"X:1": Document("X:1", TEXT)}, path)


@pytest.mark.parametrize("change, message", [
    ({"label": "maybe"}, "label must be one of"),
    ({"start": 50, "end": 40}, "start and end"),
    ({"drug1": {"name": "statins", "start": 0, "end": 5}}, "drug1 .* lies outside the sentence"),
    ({"drug2": "fibrates"}, "drug2 must be an object"),
])
def test_malformed_lines_are_refused_naming_the_line(tmp_path: Path, change: dict, message: str) -> None:
    path = _write(tmp_path, [_row(id="ok"), _row(**change)])
    with pytest.raises(InputError, match=rf"definition\.jsonl:2: {message}"):
        load_definition(path)


def test_the_committed_definition_loads() -> None:
    root = Path(__file__).resolve().parents[1]
    items = load_definition(root / "eval" / "benchmarks" / "ddi-comention" / "definition.jsonl")
    assert len(items) >= 150 and {it.label for it in items} == {"stated", "not_stated"}
    assert len({it.id for it in items}) == len(items)
