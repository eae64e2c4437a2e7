"""kbqa.paths: where models, splits and recipes are found (model variable > --models-dir > $KBQA_HOME >
checkout; packaged splits before $KBQA_HOME's and the checkout's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa import paths
from kbqa.errors import KbqaError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch):
    for var in (paths.HOME_ENV, *paths.MODEL_ENV.values()):
        monkeypatch.delenv(var, raising=False)
    yield
    paths.use_models_dir(None)


def test_model_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.checkout() == REPO
    assert paths.model_dir("reader") == REPO / "models" / "reader"  # the checkout, last
    monkeypatch.setenv("KBQA_HOME", str(tmp_path / "home"))
    assert paths.model_dir("reader") == tmp_path / "home" / "models" / "reader"
    paths.use_models_dir(tmp_path / "mine")  # --models-dir
    assert paths.model_dir("reader") == tmp_path / "mine" / "reader"
    monkeypatch.setenv("KBQA_READER", str(tmp_path / "r"))  # the model's own variable wins
    assert paths.model_dir("reader") == tmp_path / "r"
    assert paths.model_dir("embedder") == tmp_path / "mine" / "embedder"
    monkeypatch.setenv("KBQA_DDI", str(tmp_path / "d"))
    assert paths.model_dir("ddi") == tmp_path / "d"
    with pytest.raises(ValueError):
        paths.model_dir("nope")


def test_installed_without_home_finds_no_models_and_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "checkout", lambda: None)  # as for an installed wheel
    assert paths.model_dir("reader") is None
    assert "KBQA_HOME" in paths.model_hint("reader") and "KBQA_READER" in paths.model_hint("reader")
    from kbqa.read.reader import Reader

    with pytest.raises(KbqaError, match="KBQA_HOME"):
        Reader.load()
    from kbqa.config import BUNDLED_EMBEDDER, TUNED_EMBEDDER
    from kbqa.embed import available_model, resolve_model

    with pytest.warns(UserWarning, match="KBQA_HOME"):
        assert available_model(TUNED_EMBEDDER) == BUNDLED_EMBEDDER
    with pytest.raises(KbqaError, match="KBQA_HOME"):
        resolve_model(TUNED_EMBEDDER)


def test_a_set_place_without_the_model_is_an_error_not_a_fallback(tmp_path: Path, monkeypatch) -> None:
    from kbqa.config import TUNED_EMBEDDER
    from kbqa.embed import available_model

    monkeypatch.setenv("KBQA_HOME", str(tmp_path))
    assert available_model(TUNED_EMBEDDER) == TUNED_EMBEDDER  # resolve_model will say it is not there


def test_splits_packaged_then_home_then_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout_split = REPO / "eval" / "splits" / "pubmedqa.json"
    assert paths.split_path("pubmedqa") == checkout_split
    assert paths.split_path("eval/splits/pubmedqa.json") == checkout_split  # the repository path, from any folder
    monkeypatch.chdir(tmp_path)
    assert len(paths.load_split("eval/splits/pubmedqa.json")["dev"]) == 100
    home = tmp_path / "home"
    (home / "eval" / "splits").mkdir(parents=True)
    (home / "eval" / "splits" / "pubmedqa.json").write_text('{"train": ["1"], "dev": ["2"]}')
    monkeypatch.setenv("KBQA_HOME", str(home))
    assert paths.load_split("pubmedqa")["dev"] == ["2"]
    data = tmp_path / "pkg"
    (data / "splits").mkdir(parents=True)
    (data / "splits" / "pubmedqa.json").write_text('{"train": ["3"], "dev": ["4"]}')
    monkeypatch.setattr(paths, "_DATA", data)  # as in a wheel: package data first
    assert paths.load_split("pubmedqa")["dev"] == ["4"]
    assert paths.split_path(tmp_path / "other.json") == tmp_path / "other.json"  # any other path as given


def test_one_split_reader_checks_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"train": []}')
    with pytest.raises(KbqaError, match="'train' and 'dev'"):
        paths.load_split(bad)
    with pytest.raises(KbqaError, match="not found"):
        paths.load_split(tmp_path / "none.json")
    assert paths.split_part("eval/splits/ddi2013.json", "all") == sorted(
        set(paths.load_split("ddi2013")["train"]) | set(paths.load_split("ddi2013")["dev"]))
    with pytest.raises(KbqaError, match="no part 'test'"):
        paths.split_part("pubmedqa", "test")


def test_recipes_and_static_are_found() -> None:
    assert (paths.recipes_dir() / "pubmedqa.toml").is_file()
    assert (paths.PACKAGE / "static" / "index.html").is_file()
