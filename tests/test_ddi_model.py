"""The committed DDI model (models/ddi): loads, is small and pickle-free, reads obvious sentences right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.ddi.model import DDIModel

MODEL = Path(__file__).parents[1] / "models" / "ddi"


def test_committed_model_folder_is_complete() -> None:
    if not MODEL.is_dir():
        pytest.skip("models/ddi not present")
    assert (MODEL / "MODEL_CARD.md").is_file()
    assert (MODEL / "model.safetensors").stat().st_size < 50e6
    assert not [p for p in MODEL.iterdir() if p.suffix in (".bin", ".pkl", ".pt", ".pickle")]
    info = json.loads((MODEL / "kbqa_train.json").read_text())
    assert info["metadata"]["task"] == "ddi" and info["metadata"]["split"] == "eval/splits/ddi2013.json"


@pytest.mark.slow
def test_committed_model_reads_obvious_sentences() -> None:
    model = DDIModel.load(MODEL)
    sentences = {
        "DRUG1 increases the plasma concentrations of DRUG2 by inhibiting CYP3A4.": "mechanism",
        "DRUG1 should not be administered together with DRUG2.": "advise",
        "DRUG1 was given to patients, and DRUG2 was studied in another trial.": "none",
    }
    proba = model.predict_proba(list(sentences))
    assert [model.labels[i] for i in proba.argmax(1)] == list(sentences.values())
