"""Entity markers (the pair wrapped in << >> / [[ ]], names kept) next to blinding, end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.cli import main as kbqa_main
from kbqa.ddi.blind import blind, crop, pair_examples, pair_marks
from kbqa.ddi.corpus import read_corpus
from kbqa.ddi.interactions import _blinded
from kbqa.ddi.model import DDIModel
from kbqa.ddi.names import mention_pattern
from kbqa.ddi.train import DDISettings
from kbqa.errors import KbqaError

DATA = Path(__file__).parent / "data" / "ddi"


def test_markers_wrap_the_pair_and_keep_other_names() -> None:
    text = "Cimetidine inhibits the metabolism of warfarin and of theophylline."
    assert blind(text, [(0, 10)], [(38, 46)], [(54, 66)], "markers") == (
        "<< Cimetidine >> inhibits the metabolism of [[ warfarin ]] and of theophylline."
    )
    # punctuation glued to a mention stays glued to the marker
    assert blind("(aspirin)-warfarin", [(1, 8)], [(10, 18)], style="markers") == "(<< aspirin >>)-[[ warfarin ]]"
    with pytest.raises(KbqaError, match="entity style"):
        blind(text, [(0, 10)], [(38, 46)], style="typed")
    with pytest.raises(KbqaError, match="entity style"):
        DDISettings(entity_style="typed")


def test_markers_with_overlapping_and_discontinuous_mentions() -> None:
    texts = {e.pair_id: e.text for e in pair_examples(read_corpus(DATA), style="markers")}
    # a discontinuous first mention: each part marked; the other drug is left as written
    assert texts["DDI-MedLine.d900.s0.p1"] == (
        "<< Nucleoside >> and nonnucleoside << reverse transcriptase inhibitors >> should not be combined with "
        "[[ rifampin ]]."
    )
    # overlapping pair: the first mention wins the shared words, the second keeps nothing
    assert texts["DDI-MedLine.d900.s0.p0"].count("[[") == 0
    assert texts["DDI-MedLine.d900.s0.p2"] == (
        "Nucleoside and << nonnucleoside reverse transcriptase inhibitors >> should not be combined with [[ rifampin ]]."
    )
    # same pairs, same order, same labels as with blinding
    blinded = pair_examples(read_corpus(DATA))
    marked = pair_examples(read_corpus(DATA), style="markers")
    assert [(e.pair_id, e.label, e.filtered) for e in blinded] == [(e.pair_id, e.label, e.filtered) for e in marked]


def test_crop_finds_the_marked_pair() -> None:
    words = [f"w{i}" for i in range(200)]
    words[120:123] = ["<<", "aspirin", ">>"]
    words[150:153] = ["[[", "warfarin", "]]."]
    out = crop(" ".join(words), max_words=40, context=5, marks=pair_marks("markers"))
    assert "<< aspirin >>" in out and "[[ warfarin ]]." in out and out.startswith("...")
    assert pair_marks("blind") == ("DRUG1", "DRUG2")


def test_check_sentences_follow_the_model_style() -> None:
    patterns = {d: mention_pattern([d]) for d in ("aspirin", "warfarin", "heparin")}
    s = "Aspirin and heparin increase the effect of warfarin."
    assert _blinded(s, patterns, "aspirin", "warfarin") == ["DRUG1 and DRUGN increase the effect of DRUG2."]
    assert _blinded(s, patterns, "aspirin", "warfarin", style="markers") == [
        "<< Aspirin >> and heparin increase the effect of [[ warfarin ]]."
    ]


def test_train_with_markers_saves_the_style(tiny_bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    rc = kbqa_main(["train", "ddi", "--data", str(DATA), "--out", str(out), "--base", str(tiny_bert_dir),
                    "--split", "none", "--epochs", "1", "--max-length", "32", "--neg-keep", "1",
                    "--entity-style", "markers", "--class-weights", "sqrt", "--pooler-init", "identity",
                    "--head-lr", "1e-3"])
    assert rc == 0
    info = json.loads((out / "kbqa_train.json").read_text())
    assert info["metadata"]["entity_style"] == "markers"
    assert info["params"]["class_weights"] == "sqrt" and info["params"]["pooler_init"] == "identity"
    assert info["params"]["select_metric"] == "micro_f1" and info["params"]["negative_label"] == "none"
    model = DDIModel.load(out)
    assert model.entity_style == "markers"
    assert model.predict_proba(["<< Aspirin >> increases the effect of [[ warfarin ]]."]).shape == (1, 5)
    # a model folder with an unknown style is refused with the file named
    info["metadata"]["entity_style"] = "typed"
    (out / "kbqa_train.json").write_text(json.dumps(info))
    with pytest.raises(KbqaError, match="kbqa_train.json"):
        DDIModel.load(out)


def test_none_weight_option_is_saved_and_used(tiny_bert_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    rc = kbqa_main(["train", "ddi", "--data", str(DATA), "--out", str(out), "--base", str(tiny_bert_dir),
                    "--split", "none", "--epochs", "1", "--max-length", "32", "--neg-keep", "0.5",
                    "--none-weight", "6"])
    assert rc == 0
    assert DDIModel.load(out).none_weight == 6.0
    assert json.loads((out / "kbqa_train.json").read_text())["params"]["negative_weight"] == 6.0
    assert kbqa_main(["train", "ddi", "--data", str(DATA), "--out", str(out), "--base", str(tiny_bert_dir),
                      "--split", "none", "--none-weight", "0"]) == 2
