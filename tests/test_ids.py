"""Id tables (kbqa/index/ids.py): a loaded table is packed, and answers exactly as a list and dict would."""

from __future__ import annotations

import numpy as np
import pytest

import kbqa.index.ids as ids_module
from kbqa.errors import KbqaError
from kbqa.index.ids import IdTable, PackedIds

IDS = [f"PMID{i}~r{i % 7}#{i % 3}" for i in range(5000)] + ["GARD:0000004-1#12", "é-ünïcode#0", 'a "quoted" id#1', "x\\y#0"]


@pytest.mark.parametrize("ids", [IDS, [i for i in IDS if i.isascii() and '"' not in i and "\\" not in i], []])
def test_loaded_table_is_packed_and_equals_the_list(tmp_path, ids):
    built = IdTable(ids)
    built.save(tmp_path / "ids.json")
    loaded = IdTable.load(tmp_path / "ids.json")
    assert loaded._packed is not None and len(loaded) == len(ids) and list(loaded) == ids
    assert all(loaded[r] == ids[r] for r in range(0, len(ids), 97))
    asked = frozenset(ids[::13] + ["not-there#0", "PMID1~r1#"])
    assert loaded.rows_of(asked) == built.rows_of(asked)
    assert loaded.rows_array(asked).tolist() == built.rows_array(asked).tolist()
    assert loaded.rows_array(asked) is loaded.rows_array(asked)  # one lookup per immutable filter set
    if ids:
        assert ids[-1] in loaded and "not-there#0" not in loaded and 17 not in loaded
        assert loaded[-1] == ids[-1]


def test_packing_saves_most_of_the_memory():
    packed = PackedIds.from_ids(IDS)
    assert packed.nbytes / len(IDS) < 60  # a list and a dict of str hold about 150 B per id


def test_hash_collisions_are_resolved_by_comparing_ids(monkeypatch):
    real = ids_module.hash_ids
    monkeypatch.setattr(ids_module, "hash_ids", lambda blob, offsets: real(blob, offsets) & np.uint64(3))
    table = PackedIds.from_ids([f"x{i}" for i in range(200)])
    assert table.rows_array(["x5", "x177", "x200", "y"]).tolist() == [5, 177]
    assert "x199" in table and "x1999" not in table
    assert table.mask_of({"x0", "x2"}).nonzero()[0].tolist() == [0, 2]
    with pytest.raises(KbqaError, match="duplicate vector id 'x3'"):
        PackedIds.from_ids([f"x{i}" for i in range(10)] + ["x3"])


def test_bad_id_files_are_named(tmp_path):
    for text in ('[1, 2]', '{"a": "b"}', '["a#0", 3]', 'not json'):
        path = tmp_path / "ids.json"
        path.write_text(text)
        with pytest.raises(KbqaError, match="ids.json"):
            IdTable.load(path)
    path.write_text('["a#0", "b#0", "a#0"]')
    with pytest.raises(KbqaError, match="duplicate vector id 'a#0'"):
        IdTable.load(path)


def test_changing_a_loaded_table_unpacks_it(tmp_path):
    IdTable(["a#0", "b#0", "c#0"]).save(tmp_path / "ids.json")
    table = IdTable.load(tmp_path / "ids.json")
    table.extend(["d#0"])
    assert table._packed is None and list(table) == ["a#0", "b#0", "c#0", "d#0"]
    with pytest.raises(KbqaError, match="duplicate"):
        table.extend(["a#0"])
    table.remove_rows([1])
    assert list(table) == ["a#0", "c#0", "d#0"] and table.rows_of(["d#0"]) == [2]
