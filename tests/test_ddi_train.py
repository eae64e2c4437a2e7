"""Training the DDI classifier on the tiny random BERT, then eval and the check with the real model code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config

from kbqa.cli import main as kbqa_main
from kbqa.cli.ddi import eval_main
from kbqa.ddi.corpus import LABELS, load_split
from kbqa.ddi.interactions import check
from kbqa.ddi.model import DDIModel, reweight_none
from kbqa.errors import KbqaError
from kbqa.types import Chunk

DATA = Path(__file__).parent / "data" / "ddi"


@pytest.fixture(scope="module")
def split_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("split") / "split.json"
    f.write_text(json.dumps({"train": ["DDI-DrugBank.d900"], "dev": ["DDI-MedLine.d900"]}))
    return f


@pytest.fixture(scope="module")
def ddi_model(tiny_bert_dir: Path, split_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddi") / "model"
    rc = kbqa_main(["train", "ddi", "--data", str(DATA), "--out", str(out), "--base", str(tiny_bert_dir),
                    "--split", str(split_file), "--epochs", "2", "--batch-size", "2", "--max-length", "32",
                    "--lr", "1e-3", "--neg-keep", "1"])
    assert rc == 0
    return out


def test_train_writes_a_ddi_model(ddi_model: Path) -> None:
    info = json.loads((ddi_model / "kbqa_train.json").read_text())
    assert info["labels"] == list(LABELS)
    assert info["metadata"]["task"] == "ddi" and info["metadata"]["data"]["files"] == 2
    assert info["data"]["train"]["n"] == 4  # the 4 DrugBank pairs, none filtered
    assert not list(ddi_model.glob("*.bin")) and not list(ddi_model.glob("*.pkl"))
    model = DDIModel.load(ddi_model)
    assert model.none_weight == 1.0  # trained on every negative: no prior correction
    proba = model.predict_proba(["DRUG1 increases the effect of DRUG2.", "DRUGN and DRUG1 with DRUG2."])
    assert proba.shape == (2, 5) and np.allclose(proba.sum(1), 1, atol=1e-4)
    # training-set drug names are saved and found as whole words for DRUGN blinding
    assert "cimetidine" in (ddi_model / "drug_names.txt").read_text().split("\n")
    s = "Cimetidine and warfarin; cimetidines? no: xcimetidine."
    assert [s[a:b] for a, b in model.other_drugs(s)] == ["Cimetidine", "warfarin", "cimetidines"]


def test_eval_main_writes_report(ddi_model: Path, split_file: Path, tmp_path: Path) -> None:
    assert eval_main(["--model", str(ddi_model), "--data", str(DATA), "--split", str(split_file),
                      "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert 0.0 <= report["micro_f1"] <= 1.0
    assert report["n_pairs"] == 3 and report["filtered_pairs"] == 1  # the MedLine document only
    assert sum(map(sum, report["confusion"]["matrix"])) == 3
    assert (tmp_path / "r" / "report.md").read_text().startswith("# DDI 2013 evaluation")
    assert eval_main(["--model", str(tmp_path / "missing"), "--data", str(DATA)]) == 2


def test_check_with_the_trained_model(ddi_model: Path) -> None:
    class KB:
        index_dir = Path("kb")
        chunks = [Chunk("d#0", "d", "Aspirin increases the effect of warfarin.", 0, 41, "T", {"pmid": "1"})]

        def __len__(self) -> int:
            return 1

        def iter_chunks(self):  # noqa: ANN202
            return iter(self.chunks)

        def document_chunks(self, doc_id: str) -> list[Chunk]:
            return [c for c in self.chunks if c.doc_id == doc_id]

        def search_many(self, queries: list[str], k: int = 10) -> list[list]:
            return [[] for _ in queries]

    report = check(KB(), ["warfarin", "aspirin"], model=ddi_model)
    (pair,) = report.pairs
    assert pair.status in ("interaction", "not_stated") and pair.sentences == 1
    assert 0.0 <= pair.confidence <= 1.0
    assert report.provenance["model"] == str(ddi_model)


def test_reweight_none_restores_prior() -> None:
    p = np.array([[0.5, 0.5, 0, 0, 0]], dtype=np.float32)
    out = reweight_none(p, list(LABELS), 3.0)
    assert out[0, 0] == pytest.approx(0.75) and out.sum() == pytest.approx(1.0)


def test_split_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"train": []}')
    with pytest.raises(KbqaError, match="'train' and 'dev'"):
        load_split(bad)
    with pytest.raises(KbqaError, match="not found"):
        load_split(tmp_path / "none.json")


def test_repo_split_is_by_document() -> None:
    split = load_split(Path(__file__).parents[1] / "eval" / "splits" / "ddi2013.json")
    assert not set(split["train"]) & set(split["dev"])
    assert len(split["train"]) + len(split["dev"]) == 714


def test_cli_interactions_on_a_real_index(ddi_model: Path, tiny_encoder_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from kbqa.pipeline import KnowledgeBase

    config = tiny_config(tiny_encoder_dir, small_chunks=False, index={"backend": "exact"})
    KnowledgeBase.build([str(DATA)], tmp_path / "idx", config, format="ddi2013", progress=False)
    rc = kbqa_main(["interactions", "warfarin", "Cimetidine", "metformin", "--index", str(tmp_path / "idx"),
                    "--model", str(ddi_model), "--json"])
    assert rc == 0
    pairs = {tuple(p["drugs"]): p for p in json.loads(capsys.readouterr().out)["pairs"]}
    hit = pairs[("warfarin", "Cimetidine")]
    assert hit["status"] in ("interaction", "not_stated")
    assert hit["evidence"][0]["sentence"] == "Cimetidine inhibits the metabolism of warfarin and of theophylline."
    assert hit["evidence"][0]["doc_id"] == "DDI-DrugBank.d900"
    assert pairs[("warfarin", "metformin")]["status"] == "no_evidence"
    assert kbqa_main(["interactions", "warfarin", "--index", str(tmp_path / "idx")]) == 2
    assert "at least two" in capsys.readouterr().err


def test_negative_subsampling_sets_the_prior_correction(tiny_bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    args = ["train", "ddi", "--data", str(DATA), "--out", str(out), "--base", str(tiny_bert_dir), "--split", "none",
            "--epochs", "1", "--max-length", "32"]
    assert kbqa_main(args + ["--neg-keep", "0.5"]) == 0
    assert json.loads((out / "ddi.json").read_text()) == {"none_weight": 2.0}
    assert DDIModel.load(out).none_weight == 2.0
    assert kbqa_main(args + ["--neg-keep", "0"]) == 2


def test_continue_from_a_ddi_model_keeps_its_labels_head_and_pooler(ddi_model: Path, split_file: Path,
                                                                     tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from kbqa.corpus.recipes import sha256_file

    out = tmp_path / "stage2"
    # a learning rate too small to move fp16 weights: the continued model must equal its base
    rc = kbqa_main(["train", "ddi", "--data", str(DATA), "--out", str(out), "--base", str(ddi_model),
                    "--split", str(split_file), "--epochs", "1", "--batch-size", "2", "--max-length", "32",
                    "--lr", "1e-12", "--head-lr", "1e-12", "--neg-keep", "0.5", "--seed", "1"])
    assert rc == 0
    info = json.loads((out / "kbqa_train.json").read_text())
    assert info["labels"] == list(LABELS) and info["params"]["pooler_init"] == "keep"  # keep is the default here
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): lab for i, lab in enumerate(LABELS)}
    continues = info["metadata"]["continues"]
    assert continues["path"] == str(ddi_model) and continues["neg_keep"] == 1.0
    assert continues["weights_sha256"] == {"model.safetensors": sha256_file(ddi_model / "model.safetensors")}
    assert json.loads((out / "ddi.json").read_text()) == {"none_weight": 2.0}  # this stage's prior correction
    before, after = load_file(ddi_model / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys() and any(k.startswith("classifier") for k in after)
    for name in before:
        np.testing.assert_allclose(after[name].astype(np.float32), before[name].astype(np.float32), atol=1e-3,
                                   err_msg=name)


def test_continue_rejects_a_pooler_reset_and_other_classifiers(ddi_model: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from kbqa.ddi.train import base_ddi_model

    args = ["train", "ddi", "--data", str(DATA), "--out", str(tmp_path / "m"), "--split", "none", "--epochs", "1",
            "--max-length", "32"]
    assert kbqa_main(args + ["--base", str(ddi_model), "--pooler-init", "identity"]) == 2
    assert "pooler_init 'keep'" in capsys.readouterr().err
    assert kbqa_main(args + ["--base", str(ddi_model), "--entity-style", "markers"]) == 2
    assert "entity_style 'blind'" in capsys.readouterr().err
    other = tmp_path / "reader"
    shutil.copytree(ddi_model, other)
    info = json.loads((other / "kbqa_train.json").read_text())
    info["metadata"]["task"] = "reader"
    (other / "kbqa_train.json").write_text(json.dumps(info))
    with pytest.raises(KbqaError, match="not a DDI model"):
        base_ddi_model(other)
    # the same labels in another order would mix up the classes
    info["metadata"]["task"] = "ddi"
    info["labels"] = list(reversed(LABELS))
    (other / "kbqa_train.json").write_text(json.dumps(info))
    config = json.loads((other / "config.json").read_text())
    config["id2label"] = {str(i): lab for i, lab in enumerate(reversed(LABELS))}
    config["label2id"] = {lab: i for i, lab in enumerate(reversed(LABELS))}
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(KbqaError, match="in this order"):
        base_ddi_model(other)
    assert not (tmp_path / "m").exists()
