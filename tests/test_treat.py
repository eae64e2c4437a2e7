"""kbqa.treat: the lexicon's names, the patient's situations, treat() on a tiny lexical index (options with
citations, warnings, interactions, unknown medications, bad input) and `kbqa treat` end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config, tiny_config_toml
from kbqa.errors import KbqaError
from kbqa.treat import situations, treat
from kbqa.treat.lexicon import build_lexicon, mine_procedures, treatment_phrases
from kbqa.types import Chunk

DATA = Path(__file__).parent / "data" / "treat"


# ---- the lexicon and the patient's situations ---------------------------------------------------
def test_treatment_phrases_heads_and_modifiers() -> None:
    found = {(p.lower(), k, alone) for p, k, alone in treatment_phrases(
        "A bone marrow transplant or early surgery; speech therapy and a colectomy. Such therapy helps.")}
    assert ("transplant", "procedure", True) in found and ("bone marrow transplant", "procedure", False) in found
    assert ("surgery", "procedure", True) in found and ("early surgery", "procedure", False) not in found
    assert ("speech therapy", "therapy", False) in found and ("colectomy", "procedure", True) in found
    assert not any(p == "therapy" for p, _, _ in found)  # "therapy" alone names no treatment
    assert not any(p == "such therapy" for p, _, _ in found)


def test_mined_names_need_several_topics_and_templates_are_found() -> None:
    def chunk(i: int, focus: str, text: str, qtype: str = "treatment") -> Chunk:
        return Chunk(f"d{i}#0", f"d{i}", text, 0, len(text), meta={"focus": focus, "qtype": qtype})

    template = "Resources: Drug Therapy and Palliative Care."
    chunks = [chunk(i, f"topic {i}", f"Speech therapy helps. {template}") for i in range(5)]
    chunks += [chunk(9, "rare", "Laser therapy was tried."), chunk(10, "other", "Tendon therapy.", qtype="causes")]
    names, boilerplate = mine_procedures(chunks)
    assert names["speech therapy"] == "therapy" and "laser therapy" not in names and "tendon therapy" not in names
    from kbqa.text import normalised

    assert normalised(template) in boilerplate and normalised("Speech therapy helps.") in boilerplate
    assert normalised("Laser therapy was tried.") not in boilerplate
    lex = build_lexicon(["Warfarin", "ace"], names)  # names of 3 letters or fewer are too ambiguous to keep
    assert [(f.name, f.kind) for f in lex.find("warfarin and speech therapy, ace")] == [
        ("Warfarin", "medicine"), ("speech therapy", "therapy")]


def test_situations_from_free_text() -> None:
    names = {s.name for s in situations("34-year-old, pregnant (second trimester), chronic kidney disease, "
                                        "allergic to penicillin")}
    assert names == {"pregnancy", "kidney_disease", "allergy:penicillin"}
    assert {s.name for s in situations("7-year-old boy")} == {"child"}
    assert {s.name for s in situations("82 years old with liver cirrhosis")} == {"liver_disease", "elderly"}
    assert situations("not pregnant, no kidney disease, denies liver problems, 40 years old") == []
    assert situations(None) == [] and situations("  ") == []


# ---- treat() over a tiny index (BM25 side only: the tiny encoder is random) -----------------------
@pytest.fixture(scope="module")
def kb(tiny_encoder_dir, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir, small_chunks=False, search={"mode": "lexical"})
    return KnowledgeBase.build([DATA / "kb.jsonl"], tmp_path_factory.mktemp("tx") / "idx", cfg, progress=False)


class KeywordDDI:
    """Stands in for the DDI model: a blinded sentence with 'increases' states an effect, others none."""

    labels = ["none", "mechanism", "effect", "advise", "int"]
    model_dir = Path("keyword-ddi")

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), 5), 0.001, dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, 2 if "increases" in t else 0] = 0.996
        return out


def test_options_with_evidence_and_citations(kb) -> None:  # noqa: ANN001
    result = treat(kb, "rheumatoid arthritis", k=10)
    assert not result.abstained and result.matched_condition == "Rheumatoid arthritis"
    names = [o.name for o in result.options]
    assert names[0] == "methotrexate"  # two treatment passages name it
    by = {o.name: o for o in result.options}
    assert by["methotrexate"].documents == 2 and by["methotrexate"].kind == "medicine"
    assert by["surgery"].kind == "procedure" and by["physical therapy"].kind == "therapy"
    assert by["ibuprofen"].score < by["methotrexate"].score  # an information section counts at half weight
    assert "salbutamol" not in names  # the asthma passage is about another condition
    assert "warfarin" not in names  # named in a sentence that does not speak of treating
    assert [o.score for o in result.options] == sorted((o.score for o in result.options), reverse=True)
    out = result.to_dict()
    ev = out["options"][0]["evidence"][0]
    assert ev["doc_id"] in {"ra-tx-1", "ra-tx-2"} and ev["chunk_id"].startswith(ev["doc_id"])
    assert "methotrexate" in ev["sentence"].lower() and ev["citation"] and ev["section"] == "treatment"
    assert {"condition", "options", "abstained", "provenance", "unknown_medications"} <= set(out)
    assert set(out["options"][0]) >= {"name", "kind", "score", "evidence", "warnings", "interactions"}
    assert "not a prescription" in out["provenance"]["note"] and "not a diagnosis" in out["provenance"]["note"]
    assert treat(kb, "rheumatoid arthritis", k=2).options == result.options[:2]
    json.dumps(out)


def test_patient_warnings_attached_only_when_the_situation_matches(kb) -> None:  # noqa: ANN001
    pregnant = treat(kb, "rheumatoid arthritis", patient="32-year-old woman, pregnant")
    mtx = next(o for o in pregnant.options if o.name == "methotrexate")
    assert [w.situation for w in mtx.warnings] == ["pregnancy"]
    w = mtx.warnings[0].to_dict()
    assert "pregnancy" in w["sentence"] and w["doc_id"] == "mtx-pre" and "example.org/methotrexate" in w["citation"]
    assert pregnant.patient["situations"][0]["name"] == "pregnancy"
    assert all(not o.warnings for o in pregnant.options if o.name != "methotrexate")
    kidney = treat(kb, "rheumatoid arthritis", patient="has chronic kidney disease")
    assert [w.situation for w in next(o for o in kidney.options if o.name == "methotrexate").warnings] == [
        "kidney_disease"]
    calm = treat(kb, "rheumatoid arthritis", patient="not pregnant, 40 years old, no kidney disease")
    assert calm.patient["situations"] == [] and all(not o.warnings for o in calm.options)
    allergic = treat(kb, "rheumatoid arthritis", patient="allergic to methotrexate")
    direct = next(o for o in allergic.options if o.name == "methotrexate").warnings
    assert direct and direct[0].evidence is None and "allergy to methotrexate" in direct[0].reason


def test_interactions_with_current_medications_and_unknown_names(kb) -> None:  # noqa: ANN001
    result = treat(kb, "rheumatoid arthritis", medications=["Aspirin", "zorblax"], ddi_model=KeywordDDI())
    assert result.medications == ["Aspirin"] and result.unknown_medications == ["zorblax"]
    mtx = next(o for o in result.options if o.name == "methotrexate")
    pair = mtx.interactions[0]
    assert pair["medication"] == "Aspirin" and pair["status"] == "interaction" and pair["type"] == "effect"
    assert pair["evidence"][0]["doc_id"] == "asp-int" and "increases" in pair["evidence"][0]["sentence"]
    assert all(not o.interactions for o in result.options if o.kind != "medicine")
    assert result.provenance["interactions"]["pairs_checked"] >= 1
    unknown_only = treat(kb, "rheumatoid arthritis", medications=["zorblax"], ddi_model=KeywordDDI())
    assert unknown_only.unknown_medications == ["zorblax"] and all(not o.interactions for o in unknown_only.options)


def test_bad_input_and_abstention(kb) -> None:  # noqa: ANN001
    for bad in ("", "   ", None):
        with pytest.raises(KbqaError, match="condition is empty"):
            treat(kb, bad)
    with pytest.raises(KbqaError, match="k must be"):
        treat(kb, "asthma", k=0)
    with pytest.raises(KbqaError, match="medication names"):
        treat(kb, "asthma", medications=["warfarin", " "])
    with pytest.raises(KbqaError, match="list of names"):
        treat(kb, "asthma", medications="warfarin")
    none = treat(kb, "qwxz blorp")
    assert none.abstained and none.options == [] and "insufficient evidence" in none.provenance["reason"]


# ---- the CLI end to end ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index_dir(tiny_encoder_dir, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.cli import main

    tmp = tmp_path_factory.mktemp("txcli")
    cfg = tmp / "kbqa.toml"
    cfg.write_text(tiny_config_toml(tiny_encoder_dir, '[search]\nmode = "lexical"\n'))
    assert main(["index", "build", str(DATA / "kb.jsonl"), "--index", str(tmp / "idx"), "--config", str(cfg),
                 "--quiet"]) == 0
    return tmp / "idx"


def test_cli_json_and_text(index_dir, capsys) -> None:  # noqa: ANN001
    from kbqa.cli import main

    assert main(["treat", "rheumatoid arthritis", "--index", str(index_dir), "--json", "-k", "3",
                 "--patient", "pregnant", "--medications", "zorblax"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["options"][0]["name"] == "methotrexate" and len(out["options"]) == 3
    assert out["options"][0]["warnings"][0]["situation"] == "pregnancy"
    assert out["unknown_medications"] == ["zorblax"] and out["abstained"] is False
    assert main(["treat", "rheumatoid arthritis", "--index", str(index_dir), "--patient", "pregnant"]) == 0
    text = capsys.readouterr().out
    assert "methotrexate [medicine]" in text and "WARNING (pregnancy)" in text
    assert "example.org/ra/" in text and "not a prescription" in text


def test_cli_bad_input_needs_no_torch(index_dir, capsys) -> None:  # noqa: ANN001
    import subprocess

    from kbqa.cli import main

    assert main(["treat", "  ", "--index", str(index_dir)]) == 2
    assert "condition is empty" in capsys.readouterr().err
    assert main(["treat", "asthma", "--index", str(index_dir), "-k", "0"]) == 2
    code = ("import sys; from kbqa.cli import main; rc = main(['treat', ' ', '--index', 'nowhere']); "
            "assert rc == 2 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:3]")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
