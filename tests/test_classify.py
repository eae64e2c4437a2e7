"""kbqa.classify: `kbqa train classifier`, `kbqa classify`, `kbqa eval classifier` on a tiny random BERT."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kbqa.classify import data
from kbqa.classify.train import ClassifierRecipe, stratified_split, train_text_classifier
from kbqa.cli import main
from kbqa.errors import KbqaError

# each label has its own words: TF-IDF separates them, and a tiny model can learn them
WORDS = {"flu": "fever cough chills aches", "rash": "itchy red skin patches", "gut": "stomach cramps nausea bloating"}
FAST = ClassifierRecipe(epochs=2, lr=1e-3, head_lr=1e-3, batch_size=8, max_length=32, combine="none",
                        precision="fp32", progress=False)


def cases(n: int = 10, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for label, words in WORDS.items():
        for k in range(n):
            w = words.split()
            rng.shuffle(w)
            rows.append({"id": f"{label}-{k:03d}", "text": f"i have {' '.join(w[:3])} since {k} days",
                         "history": f"visit {k}", "label": label, "age": 20 + k})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def cases_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cases") / "cases.csv"
    cases().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path, cases_csv: Path) -> Path:
    """A classifier trained through the CLI (TF-IDF component on, as by default)."""
    out = tmp_path_factory.mktemp("models") / "cases"
    rc = main(["train", "classifier", "--data", str(cases_csv), "--out", str(out), "--base", str(tiny_bert_dir),
               "--epochs", "3", "--lr", "1e-3", "--batch-size", "8", "--max-length", "32", "--precision", "fp32",
               "--no-progress"])
    assert rc == 0
    return out


def test_training_lowers_the_loss_and_saves_every_artefact(tmp_path: Path, tiny_bert_dir: Path) -> None:
    frame = cases(12)
    out = tmp_path / "m"
    recipe = ClassifierRecipe(**{**FAST.__dict__, "epochs": 4})
    report = train_text_classifier(frame["text"].tolist(), frame["label"].tolist(), frame["id"].tolist(), out,
                                   tiny_bert_dir, recipe)
    info = json.loads((out / "kbqa_train.json").read_text())
    losses = [h["train_loss"] for h in info["history"]]
    assert losses[-1] < losses[0]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "calibration.json", "classifier.json",
                 "kbqa_train.json", "dev_metrics.json", "dev_split.json"):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if p.suffix in (".bin", ".pkl", ".pt", ".pickle")]
    assert not (tmp_path / "m.training").exists()
    split = json.loads((out / "dev_split.json").read_text())
    assert set(split["train"]).isdisjoint(split["dev"])
    assert sorted(split["train"] + split["dev"]) == sorted(frame["id"])
    dev_labels = Counter(i.split("-")[0] for i in split["dev"])
    assert dev_labels == {"flu": 2, "rash": 2, "gut": 2}  # stratified: 20% of each label's 12 rows
    assert report["n"] == 6 and 0 <= report["macro_f1"] <= 1
    assert json.loads((out / "calibration.json").read_text())["temperature"] == pytest.approx(report["temperature"])


def test_reload_predicts_the_same_calibrated_probabilities_in_label_order(trained: Path) -> None:
    from kbqa.classify.model import load_text_classifier
    from kbqa.numeric import softmax

    a, b = load_text_classifier(trained, precision="fp32"), load_text_classifier(trained, precision="fp32")
    config = json.loads((trained / "config.json").read_text())
    assert a.labels == sorted(WORDS) == [config["id2label"][str(i)] for i in range(3)]
    assert a.text_columns == ["text"]
    texts = ["i have fever cough since 2 days", "itchy red patches on my arms"]
    pa, pb = a.predict_proba(texts), b.predict_proba(texts)
    assert pa.shape == (2, 3)
    np.testing.assert_array_equal(pa, pb)
    np.testing.assert_allclose(pa.sum(1), 1.0, atol=1e-5)
    # the probabilities are the calibrated mix the folder describes
    expected = a.encoder_weight * softmax(a.predict_logits(texts), a.temperature)
    if a.tfidf is not None:
        tfidf = softmax(np.log(a.tfidf.predict_proba(texts)), a.tfidf_temperature)
        expected = expected + (1 - a.encoder_weight) * tfidf
    np.testing.assert_allclose(pa, expected, atol=1e-6)
    assert a.join({"text": "  a   b ", "other": "x"}) == "a b"


def test_several_text_columns_are_joined_with_their_names() -> None:
    row = {"text": "fever", "history": "asthma", "empty": ""}
    assert data.join_texts(row, ["text", "history", "empty"]) == "text: fever\nhistory: asthma"
    assert data.join_texts(row, ["text"]) == "fever"


def test_a_tampered_label_map_is_refused(trained: Path, tmp_path: Path) -> None:
    import shutil

    from kbqa.classify.model import load_text_classifier

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    config = json.loads((copy / "classifier.json").read_text())
    config["labels"] = list(reversed(config["labels"]))
    (copy / "classifier.json").write_text(json.dumps(config))
    with pytest.raises(KbqaError, match="labels"):
        load_text_classifier(copy)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".tsv"])
def test_classify_keeps_ids_and_every_column(trained: Path, tmp_path: Path, suffix: str) -> None:
    frame = cases(3).drop(columns=["label"])
    src = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(src, index=False)
    elif suffix == ".tsv":
        frame.to_csv(src, sep="\t", index=False)
    elif suffix == ".jsonl":
        frame.to_json(src, orient="records", lines=True)
    else:
        frame.to_parquet(src, index=False)
    out = tmp_path / f"out{suffix}"
    assert main(["classify", "--model", str(trained), "--input", str(src), "--out", str(out), "--precision", "fp32"]) == 0
    labels = sorted(WORDS)
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["id"] for r in rows] == frame["id"].tolist()
        for r, (_, inp) in zip(rows, frame.iterrows()):
            assert r["text"] == inp["text"] and r["age"] == inp["age"] and r["history"] == inp["history"]
            assert set(r["probabilities"]) == set(labels)
            assert r["label"] == max(r["probabilities"], key=r["probabilities"].get)
        return
    got = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out, sep="\t" if suffix == ".tsv" else ",")
    assert got["id"].tolist() == frame["id"].tolist()
    assert got["age"].tolist() == frame["age"].tolist() and got["history"].tolist() == frame["history"].tolist()
    probs = got[[f"p_{lab}" for lab in labels]].to_numpy()
    assert got["label"].tolist() == [labels[j] for j in probs.argmax(1)]
    np.testing.assert_allclose(got["confidence"], probs.max(1), atol=1e-6)


def test_classify_without_an_id_column_numbers_rows_and_never_overwrites_an_input_column(
        trained: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    cases(2).drop(columns=["id"]).to_json(src, orient="records", lines=True)
    out = tmp_path / "out.jsonl"
    assert main(["classify", "--model", str(trained), "--input", str(src), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(1, 7)]
    assert {r["label"] for r in rows} == set(WORDS)  # the input's gold label column, kept
    assert all(r["predicted_label"] in WORDS for r in rows)


def test_tfidf_component_matches_scikit_learn_after_a_save(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from kbqa.classify.tfidf import TfidfLR, _vectorizer_args

    frame = cases(6)
    texts, gold = frame["text"].tolist(), frame["label"].tolist()
    for labels in (sorted(WORDS), ["flu", "gut"]):  # multinomial and binary
        keep = [i for i, g in enumerate(gold) if g in labels]
        t, g = [texts[i] for i in keep], [gold[i] for i in keep]
        model = TfidfLR.fit(t, g, labels)
        model.save(tmp_path)
        again = TfidfLR.load(tmp_path)
        vec = TfidfVectorizer(**_vectorizer_args())
        lr = LogisticRegression(C=model.c, max_iter=3000, class_weight="balanced").fit(vec.fit_transform(t), g)
        probe = ["fever and stomach cramps", "red skin", "nothing known here"]
        np.testing.assert_allclose(again.predict_proba(probe), lr.predict_proba(vec.transform(probe)), atol=1e-4)


def test_stratified_split_is_seeded_and_keeps_every_label_on_both_sides() -> None:
    ids = [str(i) for i in range(30)]
    gold = ["a"] * 20 + ["b"] * 8 + ["c"] * 2
    train, dev = stratified_split(ids, gold, 0.2, seed=3)
    assert (train, dev) == stratified_split(ids, gold, 0.2, seed=3)
    assert stratified_split(ids, gold, 0.2, seed=4) != (train, dev)
    assert Counter(gold[int(i)] for i in dev) == {"a": 4, "b": 2, "c": 1}
    assert set(train) | set(dev) == set(ids) and not set(train) & set(dev)


def test_cv_folds_are_stratified_and_disjoint_and_baselines_see_only_training_rows(
        tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kbqa.classify import evaluate

    frame = cases(6)
    texts, gold, ids = frame["text"].tolist(), frame["label"].tolist(), frame["id"].tolist()
    folds = evaluate.fold_indices(gold, 3, seed=0)
    seen: list[int] = []
    for train_rows, test_rows in folds:
        assert sorted(train_rows + test_rows) == list(range(len(gold)))
        assert not set(train_rows) & set(test_rows)
        assert Counter(gold[i] for i in test_rows) == {"flu": 2, "rash": 2, "gut": 2}
        seen += test_rows
    assert sorted(seen) == list(range(len(gold)))  # no row in two test folds

    fitted: list[set[str]] = []
    real = evaluate.baseline_predictions

    def spy(train_texts, train_gold, test_texts, labels, seed=0):  # noqa: ANN001, ANN202
        fitted.append(set(train_texts))
        assert not set(train_texts) & set(test_texts)
        return real(train_texts, train_gold, test_texts, labels, seed)

    monkeypatch.setattr(evaluate, "baseline_predictions", spy)
    recipe = ClassifierRecipe(**{**FAST.__dict__, "epochs": 1})
    def train_fold(t, g, i, folder):  # noqa: ANN001, ANN202
        return train_text_classifier(t, g, i, folder, tiny_bert_dir, recipe)

    report = evaluate.cross_validate(texts, gold, ids, 3, train_fold, tmp_path / "folds", precision="fp32",
                                     progress=False)
    assert fitted == [{texts[i] for i in tr} for tr, _ in folds]
    for key in ("accuracy", "macro_f1", "per_class", "confusion", "ci95", "baselines", "folds", "sd"):
        assert key in report, key
    assert len(report["folds"]) == 3
    assert report["macro_f1"] == pytest.approx(np.mean([f["macro_f1"] for f in report["folds"]]))
    assert report["sd"]["macro_f1"] == pytest.approx(np.std([f["macro_f1"] for f in report["folds"]], ddof=1))
    tfidf = [f["baselines"]["tfidf_lr"]["macro_f1"] for f in report["folds"]]
    assert report["baselines"]["tfidf_lr"]["macro_f1"] == pytest.approx(np.mean(tfidf))
    assert report["baselines"]["majority"]["accuracy"] == pytest.approx(1 / 3)
    assert sum(map(sum, report["confusion"]["matrix"])) == len(gold)
    assert sorted(r["id"] for r in report["rows"]) == sorted(ids)
    assert not (tmp_path / "folds").exists()  # fold models removed unless --keep-models


def test_eval_classifier_cli_writes_the_report(trained: Path, cases_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert main(["eval", "classifier", "--model", str(trained), "--data", str(cases_csv), "--train-data",
                 str(cases_csv), "--out", str(out), "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert set(report["baselines"]) == {"majority", "tfidf_lr"}
    assert set(report["per_class"]["flu"]) == {"precision", "recall", "f1", "support"}
    assert report["confusion"]["labels"] == sorted(WORDS)
    assert report["ci95"]["macro_f1"][0] <= report["macro_f1"] <= report["ci95"]["macro_f1"][1]
    assert (out / "report.md").read_text().startswith("# Text classifier")
    assert (out / "confusion.png").stat().st_size > 0
    assert main(["eval", "classifier", "--model", str(trained), "--data", str(cases_csv), "--out", str(out),
                 "--no-progress"]) == 0
    assert set(json.loads((out / "report.json").read_text())["baselines"]) == {"majority"}


def test_help_and_argument_errors_import_no_heavy_stack() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom kbqa.cli import main\n"
            "for argv in (['classify', '--help'], ['train', 'classifier', '--help'], ['eval', 'classifier', '--help'],"
            " ['eval', 'classifier', '--data', 'x.csv']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=root,
                   env={**__import__("os").environ, "PYTHONPATH": str(root)})


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case, match", [
    ("missing_column", r"bad\.csv: no text column 'body'"),
    ("empty_text", r"bad\.csv:5: empty text"),
    ("one_example", r"bad\.csv:\d+: label 'rare' has only 1 example"),
    ("unreadable", r"bad\.parquet: pandas cannot read it"),
    ("unknown_format", r"bad\.xlsx: unknown table format"),
    ("empty_label", r"bad\.csv:3: empty label"),
])
def test_bad_input_names_the_file_and_row(tmp_path: Path, capsys: pytest.CaptureFixture, case: str, match: str) -> None:
    frame = cases(3)
    args = ["--text-column", "text"]
    if case == "missing_column":
        src, args = _write(tmp_path / "bad.csv", frame), ["--text-column", "body"]
    elif case == "empty_text":
        frame.loc[3, "text"] = "  "
        src = _write(tmp_path / "bad.csv", frame)
    elif case == "one_example":
        frame.loc[4, "label"] = "rare"
        src = _write(tmp_path / "bad.csv", frame)
    elif case == "empty_label":
        frame.loc[1, "label"] = ""
        src = _write(tmp_path / "bad.csv", frame)
    elif case == "unreadable":
        src = tmp_path / "bad.parquet"
        src.write_bytes(b"this is not parquet")
    else:
        src = tmp_path / "bad.xlsx"
        src.write_bytes(b"x")
    out = tmp_path / "never"
    assert main(["train", "classifier", "--data", str(src), "--out", str(out), *args]) == 2
    assert __import__("re").search(match, capsys.readouterr().err)
    assert not out.exists()


def test_cv_refuses_labels_with_fewer_rows_than_folds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _write(tmp_path / "few.csv", cases(3))
    assert main(["eval", "classifier", "--data", str(src), "--cv", "5", "--out", str(tmp_path / "r")]) == 2
    assert "needs at least 5 per label" in capsys.readouterr().err


def test_a_split_file_is_used_and_checked(tmp_path: Path, cases_csv: Path, tiny_bert_dir: Path,
                                          capsys: pytest.CaptureFixture) -> None:
    from kbqa.classify.train import read_split

    ids = cases()["id"].tolist()
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": ids[1:], "dev": ids[:1]}))
    assert read_split(split, ids) == (ids[1:], ids[:1])
    split.write_text(json.dumps({"train": ids, "dev": ["nope"]}))
    assert main(["train", "classifier", "--data", str(cases_csv), "--out", str(tmp_path / "m"), "--split", str(split),
                 "--base", str(tiny_bert_dir)]) == 2
    assert "'nope'" in capsys.readouterr().err


def test_deidentify_keeps_phi_out_of_the_model_folder_and_the_predictions(
        tmp_path: Path, tiny_bert_dir: Path, trained: Path) -> None:
    frame = cases(6)
    frame["text"] = [f"{t}. Seen by Dr. Margaret Quarrington on 03/14/2024, MRN 4471902, call 617-555-0199"
                     for t in frame["text"]]
    src = _write(tmp_path / "phi.csv", frame)
    out = tmp_path / "model"
    assert main(["train", "classifier", "--data", str(src), "--out", str(out), "--base", str(tiny_bert_dir),
                 "--epochs", "1", "--batch-size", "8", "--max-length", "32", "--precision", "fp32",
                 "--combine", "tfidf", "--no-progress", "--deidentify"]) == 0
    secrets = ("Quarrington", "03/14/2024", "4471902", "617-555-0199")
    for f in out.rglob("*"):
        if f.is_file():
            blob = f.read_bytes().lower()  # the TF-IDF vocabulary is lower-cased
            assert not any(s.lower().encode() in blob for s in secrets), f
    config = json.loads((out / "classifier.json").read_text()) if (out / "classifier.json").exists() else {}
    recorded = json.dumps(config) + "".join(f.read_text() for f in out.glob("*.json"))
    assert '"deidentification"' in recorded
    preds = tmp_path / "preds.csv"
    assert main(["classify", "--model", str(trained), "--input", str(src), "--out", str(preds), "--precision",
                 "fp32", "--deidentify"]) == 0
    written = preds.read_text()
    assert not any(s in written for s in secrets) and "[NAME]" in written and "[DATE]" in written
    assert pd.read_csv(preds)["id"].tolist() == frame["id"].tolist()  # every row kept, ids as given


# ---- second stages: --base a classifier, --no-dev, --dev FILE, --include ---------------------------------
def _train(*args: str) -> int:
    return main(["train", "classifier", "--max-length", "32", "--batch-size", "8", "--precision", "fp32",
                 "--no-progress", *args])


def test_a_classifier_base_is_continued_with_its_labels_and_head(trained: Path, tmp_path: Path) -> None:
    from kbqa.classify.model import load_text_classifier

    two = _write(tmp_path / "two.csv", cases(4)[lambda f: f["label"] != "gut"])  # one label of the base absent
    names = tmp_path / "names.txt"
    names.write_text("aspirin\n")
    out = tmp_path / "stage2"
    assert _train("--data", str(two), "--base", str(trained), "--out", str(out), "--no-dev", "--epochs", "1",
                  "--lr", "1e-8", "--head-lr", "1e-8", "--combine", "none", "--temperature", "1.5",
                  "--include", str(names)) == 0
    base, cont = load_text_classifier(trained, precision="fp32"), load_text_classifier(out, precision="fp32")
    assert cont.labels == base.labels == sorted(WORDS)  # "gut" kept though no row has it
    texts = ["i have fever cough since 2 days", "stomach cramps nausea"]
    # a near-zero learning rate leaves the continued head and encoder where the base left them
    np.testing.assert_allclose(cont.predict_logits(texts), base.predict_logits(texts), atol=2e-2)
    assert cont.temperature == 1.5 and (out / "names.txt").read_text() == "aspirin\n"
    info = json.loads((out / "kbqa_train.json").read_text())
    assert info["params"]["pooler_init"] == "keep" and info["data"]["dev"]["n"] == 0
    assert json.loads((out / "dev_split.json").read_text())["dev"] == []


def test_a_label_the_base_lacks_is_refused(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    frame = cases(4)
    frame.loc[0, "label"] = "fracture"
    src = _write(tmp_path / "new.csv", frame)
    assert _train("--data", str(src), "--base", str(trained), "--out", str(tmp_path / "m"), "--no-dev",
                  "--combine", "none") == 2
    assert "'fracture' is not one of the base classifier's labels" in capsys.readouterr().err


def test_no_dev_needs_a_given_tfidf_weight(tiny_bert_dir: Path, cases_csv: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    from kbqa.classify.model import load_text_classifier

    common = ["--data", str(cases_csv), "--base", str(tiny_bert_dir), "--epochs", "1", "--no-dev"]
    assert _train(*common, "--out", str(tmp_path / "a")) == 2
    assert "--encoder-weight" in capsys.readouterr().err
    assert _train("--data", str(cases_csv), "--base", str(tiny_bert_dir), "--out", str(tmp_path / "b"),
                  "--temperature", "2") == 2
    assert "are for --no-dev" in capsys.readouterr().err
    assert _train(*common, "--out", str(tmp_path / "c"), "--encoder-weight", "0.25") == 0
    clf = load_text_classifier(tmp_path / "c", precision="fp32")
    assert clf.encoder_weight == 0.25 and clf.tfidf is not None and clf.temperature == 1.0
    assert clf.predict(["itchy red skin patches"]) == ["rash"]  # TF-IDF carries 3/4 of it


def test_dev_rows_from_another_file(tiny_bert_dir: Path, tmp_path: Path) -> None:
    train, dev = _write(tmp_path / "train.csv", cases(6)), _write(tmp_path / "dev.csv", cases(2, seed=1))
    out = tmp_path / "m"
    assert _train("--data", str(train), "--dev", str(dev), "--base", str(tiny_bert_dir), "--out", str(out),
                  "--epochs", "1", "--combine", "none", "--select-metric", "accuracy") == 0
    split = json.loads((out / "dev_split.json").read_text())
    assert len(split["train"]) == 18 and len(split["dev"]) == 6  # every --data row trained on
    assert all(i.startswith("train:") for i in split["train"]) and all(i.startswith("dev:") for i in split["dev"])
    assert json.loads((out / "dev_metrics.json").read_text())["n"] == 6
    assert json.loads((out / "kbqa_train.json").read_text())["params"]["select_metric"] == "accuracy"
