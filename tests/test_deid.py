"""De-identification: each PHI category replaced (several formats), clinical words kept, offsets
consistent, `kbqa deid` on CSV/JSONL, and no inserted value anywhere in an index built with --deidentify."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("presidio_analyzer")
pytest.importorskip("names")

from kbqa.cli import main  # noqa: E402
from kbqa.deid import CATEGORIES, Deidentifier, deidentify  # noqa: E402

# (category, text, the value that must be gone)
CASES = [
    ("NAME", "My name is Keisha Williams and I have asthma.", "Keisha Williams"),
    ("NAME", "Mrs. Okonkwo was seen in clinic.", "Okonkwo"),
    ("NAME", "Patient: Garcia, Maria. Metformin started.", "Garcia, Maria"),
    ("NAME", "Dr. Patel said the rash is benign.", "Patel"),
    ("NAME", "my son david has a fever", "david"),
    ("NAME", "Sincerely, Robert J. Thompson", "Robert J. Thompson"),
    ("NAME", "Thank you, Emily Bell", "Emily Bell"),
    ("NAME", "Patient John Doe (MRN: 123456) presented with chest pain.", "John Doe"),
    ("NAME", "JOHNSON, ROBERT  MRN 998877", "JOHNSON, ROBERT"),
    ("NAME", "Pt. Mary-Jane O'Connor, 67F, admitted today.", "Mary-Jane O'Connor"),
    ("NAME", "Kwame Mensah, 92 y.o., on metoprolol.", "Kwame Mensah"),
    ("NAME", "Patient Fatima Al-Sayed was given amoxicillin.", "Fatima Al-Sayed"),
    ("NAME", "my name is john smith and i have diabetes", "john smith"),
    ("NAME", "Name: ANNA KOWALSKA", "ANNA KOWALSKA"),
    ("NAME", "Note by S. Johnson, RN", "S. Johnson"),
    ("DATE", "It started on 03/14/2021 after the flu.", "03/14/2021"),
    ("DATE", "Admitted 2021-03-14 with chest pain.", "2021-03-14"),
    ("DATE", "Seen on March 14, 2021 by the nurse.", "March 14, 2021"),
    ("DATE", "Surgery on 14 Mar 2021 went well.", "14 Mar 2021"),
    ("DATE", "DOB: 4-Jul-1950.", "4-Jul-1950"),
    ("DATE", "Symptoms since June 2019.", "June 2019"),
    ("DATE", "Last visit May 3rd, no change.", "May 3rd"),
    ("DATE", "Discharged on 3/14/21 home.", "3/14/21"),
    ("AGE", "A 92-year-old woman with dementia.", "92"),
    ("AGE", "My grandmother is 101 years old.", "101"),
    ("AGE", "Age 95, lives alone.", "95"),
    ("AGE", "He is 93 y/o and frail.", "93"),
    ("PHONE", "Call me at (415) 555-0123 tomorrow.", "(415) 555-0123"),
    ("PHONE", "Fax 617.555.0199 for records.", "617.555.0199"),
    ("PHONE", "Phone: +1 212 555 0188", "+1 212 555 0188"),
    ("PHONE", "My cell is 4155550123.", "4155550123"),
    ("EMAIL", "Email jane.roe77@gmail.com with results.", "jane.roe77@gmail.com"),
    ("EMAIL", "Contact: r.smith@clinic-example.org", "r.smith@clinic-example.org"),
    ("ID", "MRN: 12345678, admitted for pneumonia.", "12345678"),
    ("ID", "Medical record number A1234567.", "A1234567"),
    ("ID", "Account # 4455-6677-88 is overdue.", "4455-6677-88"),
    ("ID", "SSN 123-45-6789 on file.", "123-45-6789"),
    ("ID", "Licence number D7654321 checked.", "D7654321"),
    ("ADDRESS", "I live at 12 Oak Street, Apt 4B, near the park.", "12 Oak Street"),
    ("ADDRESS", "Send it to 4500 W. Martin Luther King Blvd please.", "4500 W. Martin Luther King Blvd"),
    ("ADDRESS", "Address: 77 Harbor View Road, Springfield, IL 62704", "Springfield"),
    ("ADDRESS", "Mail to P.O. Box 1234 today.", "P.O. Box 1234"),
    ("ZIP", "We are in Boston, MA 02115 now.", "02115"),
    ("ZIP", "ZIP code 90210.", "90210"),
    ("URL", "See https://example.org/patients/123 for the scan.", "https://example.org/patients/123"),
    ("URL", "My blog www.janesjourney.net has photos.", "www.janesjourney.net"),
    ("IP", "Sent from 192.168.1.20 yesterday.", "192.168.1.20"),
    ("IP", "Login from 2001:db8::8a2e:370:7334 failed.", "2001:db8::8a2e:370:7334"),
]

CLINICAL = [
    "Does Parkinson's disease cause tremor at rest?",
    "Graves disease and Hashimoto thyroiditis are autoimmune.",
    "Wilson disease is treated with penicillamine.",
    "Children with Down syndrome often have heart defects.",
    "Take warfarin 5 mg daily for three weeks; INR 2.5.",
    "Bell's palsy resolved after prednisone 60 mg.",
    "HbA1c 7.2% in 2019; metformin 500 mg twice daily.",
    "Crohn's disease flares with NSAIDs such as ibuprofen.",
    "Blood pressure 120/80, pulse 72, temperature 37.2 C.",
    "A 45-year-old man aged 45 with Huntington disease.",
    "Lou Gehrig's disease (ALS) progresses over 3 to 5 years.",
    "Cushing syndrome and Addison disease affect the adrenal glands.",
    "Stevens-Johnson syndrome after lamotrigine; Turner syndrome; Bell's palsy.",
]


@pytest.fixture(scope="module")
def deid() -> Deidentifier:
    return Deidentifier()


@pytest.mark.parametrize("category,text,value", CASES)
def test_each_category_is_replaced(deid, category, text, value) -> None:  # noqa: ANN001
    red = deid.redact(text)
    assert value not in red.text, red.text
    assert f"[{category}]" in red.text, red.text
    assert {s.category for s in red.spans} <= set(CATEGORIES)


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_words_doses_and_years_survive(deid, text) -> None:  # noqa: ANN001
    assert deid(text) == text


def test_offsets_point_into_both_texts(deid) -> None:  # noqa: ANN001
    text = "Mr. John Smith, 92 years old, MRN 1234567, seen 01/02/2020 at 12 Oak Street; aspirin 81 mg."
    red = deid.redact(text)
    assert [s.category for s in red.spans] == ["NAME", "AGE", "ID", "DATE", "ADDRESS"]
    rebuilt, pos = "", 0
    for s in red.spans:
        assert red.text[s.new_start:s.new_end] == f"[{s.category}]"
        rebuilt += text[pos:s.start] + red.text[s.new_start:s.new_end]
        pos = s.end
    assert rebuilt + text[pos:] == red.text  # everything outside the spans is untouched
    assert red.text.endswith("; aspirin 81 mg.")


def test_public_function_and_empty_text() -> None:
    assert deidentify(["Call 415-555-0123", "", "no phi"]) == ["Call [PHONE]", "", "no phi"]
    assert deidentify("Dr. Who") == "Dr. [NAME]"


# ---- kbqa deid on files -------------------------------------------------------------------------
def test_deid_csv_keeps_rows_and_columns_and_reports_counts_only(tmp_path, capsys) -> None:  # noqa: ANN001
    src = tmp_path / "cases.csv"
    src.write_text('case_id,note,age,text\n007,"Seen by Dr. Patel on 03/04/2021",92,"call 415-555-0123"\n'
                   '008,"metformin 500 mg",40,""\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["deid", "--input", str(src), "--out", str(out), "--text-column", "note", "--text-column", "text",
                 "--report", "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "Patel" not in printed.out + printed.err and "NAME       1" in printed.out and "PHONE      1" in printed.out
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "case_id,note,age,text"
    assert lines[1] == "007,Seen by Dr. [NAME] on [DATE],92,call [PHONE]"  # "007" stays "007"
    assert lines[2] == "008,metformin 500 mg,40,"


def test_deid_jsonl_default_column(tmp_path) -> None:  # noqa: ANN001
    src = tmp_path / "q.jsonl"
    src.write_text(json.dumps({"id": 1, "text": "Email me at a.b@example.com", "k": [1]}) + "\n\n"
                   + json.dumps({"id": 2, "other": "x"}) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["deid", "--input", str(src), "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows == [{"id": 1, "text": "Email me at [EMAIL]", "k": [1]}, {"id": 2, "other": "x"}]


@pytest.mark.parametrize("content,args,words", [
    ("id,text\n1,hello\n", ["--text-column", "note"], ["no column 'note'", "columns present", "id", "text"]),
    ("", [], ["empty file"]),
    ("id,text\n", [], ["no data rows"]),
])
def test_deid_bad_input_names_file_and_fix(tmp_path, capsys, content, args, words) -> None:  # noqa: ANN001
    src = tmp_path / "in.csv"
    src.write_text(content, encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["deid", "--input", str(src), "--out", str(out), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert str(src) in err and all(w in err for w in words), err
    assert not out.exists()


# ---- an index built with --deidentify -------------------------------------------------------------
PHI_VALUES = ["Keisha Williams", "Okonkwo", "03/14/2021", "(415) 555-0123", "jane.roe77@gmail.com", "12345678",
              "12 Oak Street", "02115", "https://janes-journey.example.org/x", "192.168.1.20", "Robert Thompson",
              "1950-07-04", "A7654321", "Zebulon Quigley", "Ngozi Eze"]


def _phi_csv(path: Path) -> None:
    rows = [
        ("c1", "My name is Keisha Williams. Mrs. Okonkwo was seen on 03/14/2021 for Graves disease; methimazole 10 mg.",
         "Robert Thompson", "1950-07-04", "Zebulon Quigley"),
        ("c2", "Call (415) 555-0123 or jane.roe77@gmail.com. MRN 12345678. Warfarin and amiodarone interact.",
         "Keisha Williams", "03/14/2021", "Ngozi Eze"),
        ("c3", "Lives at 12 Oak Street, Boston, MA 02115; see https://janes-journey.example.org/x from 192.168.1.20.",
         "A7654321", "2021-01-02", "Oak Street"),
    ]
    lines = ["case_id,text,patient,dob,patient_name"] + [",".join(f'"{c}"' for c in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _leaks(folder: Path, values: list[str]) -> list[str]:
    found = []
    for f in folder.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            for v in values:
                for form in {v, v.lower(), json.dumps(v)[1:-1]}:
                    if form.encode("utf-8") in data:
                        found.append(f"{v!r} in {f.relative_to(folder)}")
    return found


def test_index_built_with_deidentify_holds_no_inserted_value(tiny_encoder_dir, tmp_path, capsys) -> None:  # noqa: ANN001
    from conftest import tiny_config_toml

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny_config_toml(tiny_encoder_dir), encoding="utf-8")
    src = tmp_path / "cases.csv"
    _phi_csv(src)
    idx = tmp_path / "idx"
    assert main(["index", "build", str(src), "--index", str(idx), "--config", str(cfg), "--quiet",
                 "--column", "id=case_id", "--deidentify"]) == 0
    out = capsys.readouterr()
    assert not _leaks(idx, PHI_VALUES), _leaks(idx, PHI_VALUES)
    assert not [v for v in PHI_VALUES if v in out.out + out.err]
    version = idx / (idx / "CURRENT").read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["deidentification"]["applied"] is True
    assert "presidio-analyzer" in manifest["deidentification"]["packages"]
    assert manifest["deidentification"]["replaced"]["NAME"] >= 3
    chunks = [json.loads(x) for x in (version / "chunks.jsonl").read_text().splitlines()]
    text = " ".join(c["text"] for c in chunks)
    for kept in ("Graves disease", "methimazole", "Warfarin", "amiodarone", "[NAME]", "[DATE]", "[ID]"):
        assert kept in text
    for c in chunks:  # offsets refer to the de-identified text
        assert c["end"] - c["start"] == len(c["text"])
    # an update of it de-identifies new documents too (--deidentify implied) ...
    new = tmp_path / "new.csv"
    new.write_text('case_id,text\nc4,"Dr. Nakamura saw him on 02/02/2022, call 617-555-0199."\n', encoding="utf-8")
    assert main(["index", "update", str(new), "--index", str(idx), "--column", "id=case_id", "--quiet"]) == 0
    assert "built with --deidentify" in capsys.readouterr().err
    assert not _leaks(idx, PHI_VALUES + ["Nakamura", "02/02/2022", "617-555-0199"])


def test_update_with_deidentify_refuses_an_index_built_without(tiny_encoder_dir, tmp_path, capsys) -> None:  # noqa: ANN001
    from conftest import tiny_config_toml

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(tiny_config_toml(tiny_encoder_dir), encoding="utf-8")
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"id": "a", "text": "Aspirin reduces the risk of stroke in some adults."}\n', encoding="utf-8")
    idx = tmp_path / "idx"
    assert main(["index", "build", str(docs), "--index", str(idx), "--config", str(cfg), "--quiet"]) == 0
    assert main(["index", "update", str(docs), "--index", str(idx), "--deidentify", "--quiet"]) == 2
    assert "built without de-identification" in capsys.readouterr().err


def test_search_does_not_import_presidio() -> None:
    code = ("import sys; from kbqa.cli import build_parser; build_parser(['search']).parse_args(['search', '--index', 'x', 'q']);"
            "build_parser(['index']); assert 'presidio_analyzer' not in sys.modules and 'spacy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
