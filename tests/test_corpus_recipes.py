"""Recipes: checksums of the mirror, verification stamps, offline download path, CLI."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import kbqa.corpus.download as fetch_module
import kbqa.corpus.recipes as recipes_module
from kbqa.cli import main
from kbqa.corpus import fetch, iter_documents, list_recipes, resolve_source, verify
from kbqa.corpus.recipes import sha256_file, tree_sha256
from kbqa.errors import KbqaError

DATA = Path(__file__).parent / "data" / "corpus"
NAMES = {"pubmedqa", "medquad", "ddi2013", "check_covid", "scifact_rte"}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache, no mirror from the environment, and a cwd without ../shared/data."""
    monkeypatch.setenv("KBQA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("KBQA_MIRROR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def make_recipe(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(
        f'name = "{name}"\ndescription = "test"\nformat = "jsonl"\nlicence = "CC0"\n'
        f'mirror_dir = "{name}"\nentry = "docs.jsonl"\n' + body)
    return folder


def file_check(path: Path, rel: str) -> str:
    return f'[[files]]\npath = "{rel}"\nsize = {path.stat().st_size}\nsha256 = "{sha256_file(path)}"\n'


@pytest.fixture
def tiny(tmp_path):
    """A mirror with one dataset and a recipe checking one file and one tree."""
    mirror = tmp_path / "mirror"
    (mirror / "tiny" / "more").mkdir(parents=True)
    (mirror / "tiny" / "docs.jsonl").write_bytes((DATA / "docs.jsonl").read_bytes())
    (mirror / "tiny" / "more" / "a.txt").write_text("a")
    digest, count = tree_sha256(mirror / "tiny" / "more", "*.txt")
    body = file_check(mirror / "tiny" / "docs.jsonl", "docs.jsonl")
    body += f'[[trees]]\npath = "more"\nglob = "*.txt"\nfiles = {count}\ntree_sha256 = "{digest}"\n'
    return mirror, make_recipe(tmp_path / "recipes", "tiny", body)


def test_shipped_recipes_are_complete():
    recipes = list_recipes()
    assert set(recipes) == NAMES
    for recipe in recipes.values():
        assert recipe.licence and recipe.description and recipe.upstream and recipe.citation
        assert recipe.files or recipe.trees
        assert recipe.download or recipe.mirror_only  # either downloadable or says why not


@pytest.mark.parametrize("name", sorted(NAMES - {"medquad"}))
def test_shipped_recipes_verify_against_the_mirror(shared_data, name):
    folder = fetch(name, mirror=shared_data)
    assert folder == shared_data / list_recipes()[name].mirror_dir  # used in place, not copied


def test_resolve_recipe_name(shared_data):
    path, fmt = resolve_source("pubmedqa", mirror=shared_data)
    assert (path, fmt) == (shared_data / "pubmedqa" / "pqal_traindev.json", "pubmedqa")
    assert len(list(iter_documents("pubmedqa", mirror=shared_data))) == 500


def test_ddi2013_recipe_reads_through_the_ddi_reader(shared_data):
    from kbqa.corpus import LoadStats

    stats = LoadStats()
    docs = list(iter_documents("ddi2013", mirror=shared_data, stats=stats))
    assert stats.documents == len(docs) == 714 and stats.files == 714
    assert {d.meta["collection"] for d in docs} == {"DrugBank", "MedLine"}


def test_default_mirror_is_shared_data_relative_to_cwd(shared_data, tmp_path, monkeypatch):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data)
    monkeypatch.chdir(tmp_path / "work")
    path, fmt = resolve_source("pubmedqa")
    assert fmt == "pubmedqa"
    assert path.resolve() == (shared_data / "pubmedqa" / "pqal_traindev.json").resolve()


@pytest.mark.slow
def test_full_medquad_tree_verifies_once_then_from_its_stamp(shared_data, monkeypatch):
    from kbqa.corpus import recipes as rec

    recipe = list_recipes()["medquad"]
    assert verify(recipe, shared_data / "medquad") is True  # hashed: 11,274 files
    calls = []
    monkeypatch.setattr(rec, "sha256_file", lambda p: calls.append(p) or "x")
    monkeypatch.setattr(rec, "tree_sha256", lambda *a: calls.append(a) or ("x", 0))
    assert verify(recipe, shared_data / "medquad") is False  # stamp: sizes + mtimes only
    assert calls == []  # nothing re-hashed (speed is measured by benchmarks, not here)


def test_verify_stamp_and_mismatches(tiny):
    mirror, recipes = tiny
    recipe = list_recipes(recipes)["tiny"]
    assert verify(recipe, mirror / "tiny") is True
    assert verify(recipe, mirror / "tiny") is False  # stamped
    docs = mirror / "tiny" / "docs.jsonl"
    expected = sha256_file(docs)
    docs.write_bytes(docs.read_bytes().replace(b"Aspirin", b"Aspiryn"))  # same size, new mtime
    with pytest.raises(KbqaError) as info:
        verify(recipe, mirror / "tiny")
    message = str(info.value)
    assert str(docs) in message and expected in message and sha256_file(docs) in message
    docs.write_bytes((DATA / "docs.jsonl").read_bytes())
    (mirror / "tiny" / "more" / "b.txt").write_text("extra")
    with pytest.raises(KbqaError, match=r"tree .*more/\*\.txt: expected 1 files .* got 2 files"):
        verify(recipe, mirror / "tiny")
    (mirror / "tiny" / "more" / "b.txt").unlink()
    docs.unlink()
    with pytest.raises(KbqaError, match="missing file .*docs.jsonl"):
        verify(recipe, mirror / "tiny")


def test_fetch_from_explicit_and_env_mirror(tiny, monkeypatch):
    mirror, recipes = tiny
    assert fetch("tiny", mirror=mirror, recipes_dir=recipes) == mirror / "tiny"
    monkeypatch.setenv("KBQA_MIRROR", str(mirror))
    assert fetch("tiny", recipes_dir=recipes) == mirror / "tiny"
    monkeypatch.setenv("KBQA_MIRROR", str(mirror.parent))
    with pytest.raises(KbqaError, match="has no tiny/"):
        fetch("tiny", recipes_dir=recipes)


def test_mirror_only_recipe_without_mirror(tiny):
    _, recipes = tiny
    with pytest.raises(KbqaError, match="tiny cannot be downloaded.*--mirror"):
        fetch("tiny", recipes_dir=recipes)
    with pytest.raises(KbqaError, match="withheld for blind evaluation.*--mirror"):
        fetch("pubmedqa")  # no mirror anywhere from the isolated cwd


def github_style_zip(tmp_path: Path) -> Path:
    """An archive shaped like GitHub's: one top folder holding the dataset."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Tiny-abc123/", "")
        zf.writestr("Tiny-abc123/docs.jsonl", (DATA / "docs.jsonl").read_bytes())
        zf.writestr("Tiny-abc123/more/a.txt", "a")
    path = tmp_path / "tiny.zip"
    path.write_bytes(buf.getvalue())
    return path


def test_download_unpack_verify_with_file_url(tiny, tmp_path, monkeypatch):
    _, recipes = tiny
    archive = github_style_zip(tmp_path)
    toml = recipes / "tiny.toml"
    toml.write_text(toml.read_text() + f'[download]\nurl = "{archive.as_uri()}"\narchive = "zip"\nstrip = 1\n')
    folder = fetch("tiny", recipes_dir=recipes)
    assert folder == tmp_path / "cache" / "datasets" / "tiny"
    assert (folder / "more" / "a.txt").read_text() == "a"
    assert [d.doc_id for d in iter_documents(folder / "docs.jsonl")] == ["doc-1", "42", "doc-4"]
    # already downloaded and valid: no second download
    monkeypatch.setattr(fetch_module, "urlopen", lambda url: pytest.fail("downloaded twice"))
    assert fetch("tiny", recipes_dir=recipes) == folder
    # --dest downloads elsewhere; a monkeypatched opener stands in for the network
    calls = []

    def opener(url):
        calls.append(url)
        return open(archive, "rb")

    monkeypatch.setattr(fetch_module, "urlopen", opener)
    dest = tmp_path / "elsewhere"
    assert fetch("tiny", recipes_dir=recipes, dest=dest) == dest and calls == [archive.as_uri()]


def test_download_checksum_mismatch_and_failures(tiny, tmp_path, monkeypatch):
    _, recipes = tiny
    plain = tmp_path / "docs.jsonl"
    plain.write_text('{"id": "x", "text": "a different file"}\n')
    toml = recipes / "tiny.toml"
    base = toml.read_text()
    toml.write_text(base + f'[download]\nurl = "{plain.as_uri()}"\npath = "docs.jsonl"\n')
    with pytest.raises(KbqaError, match=r"checksum mismatch for .*docs\.jsonl: expected sha256 [0-9a-f]{64}, got"):
        fetch("tiny", recipes_dir=recipes)
    toml.write_text(base + f'[download]\nurl = "{plain.as_uri()}"\npath = "docs.jsonl"\nsha256 = "{"0" * 64}"\n')
    with pytest.raises(KbqaError, match="checksum mismatch for file://.*expected sha256 0{64}, got"):
        fetch("tiny", recipes_dir=recipes)
    toml.write_text(base + f'[download]\nurl = "{(tmp_path / "gone.zip").as_uri()}"\narchive = "zip"\n')
    with pytest.raises(KbqaError, match="download of .*gone.zip failed"):
        fetch("tiny", recipes_dir=recipes)


def test_unpack_refuses_paths_outside_the_folder(tiny, tmp_path):
    _, recipes = tiny
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("top/../../outside.txt", "x")
    toml = recipes / "tiny.toml"
    toml.write_text(toml.read_text() + f'[download]\nurl = "{evil.as_uri()}"\narchive = "zip"\nstrip = 1\n')
    with pytest.raises(KbqaError, match="refusing to unpack"):
        fetch("tiny", recipes_dir=recipes)
    assert not (tmp_path / "cache" / "outside.txt").exists()


def test_bad_recipe_files(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "x.toml").write_text('name = "x"\nbogus = 1\n')
    with pytest.raises(KbqaError, match=r"unknown key\(s\) \['bogus'\]"):
        list_recipes(folder)
    (folder / "x.toml").write_text('name = "y"\ndescription = "d"\nformat = "jsonl"\nlicence = "l"\nmirror_dir = "y"\n')
    with pytest.raises(KbqaError, match="must match the file name"):
        list_recipes(folder)
    (folder / "x.toml").write_text('name = "x"\n')
    with pytest.raises(KbqaError, match="incomplete or wrong recipe"):
        list_recipes(folder)


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_list(capsys):
    assert main(["corpus", "list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert name in out
    assert "CC BY 4.0" in out and "mirror only" in out


def test_cli_fetch(shared_data, capsys):
    assert main(["corpus", "fetch", "pubmedqa", "--mirror", str(shared_data)]) == 0
    assert "pubmedqa: verified" in capsys.readouterr().out
    assert main(["corpus", "fetch", "nope"]) == 2
    assert "unknown corpus recipe 'nope'; known recipes: check_covid" in capsys.readouterr().err


def test_cli_fetch_download_to_dest(tiny, tmp_path, monkeypatch, capsys):
    _, recipes = tiny
    archive = github_style_zip(tmp_path)
    toml = recipes / "tiny.toml"
    toml.write_text(toml.read_text() + f'[download]\nurl = "{archive.as_uri()}"\narchive = "zip"\nstrip = 1\n')
    monkeypatch.setattr(recipes_module, "RECIPES_DIR", recipes)
    dest = tmp_path / "dest"
    assert main(["corpus", "fetch", "tiny", "--dest", str(dest)]) == 0
    assert f"tiny: verified {dest}" in capsys.readouterr().out
    assert (dest / "docs.jsonl").is_file()


def test_cli_stats(capsys):
    assert main(["corpus", "stats", str(DATA / "cases.csv"), "--column", "id=case_id",
                 "--column", "text=abstract"]) == 0
    out = capsys.readouterr().out
    assert "files 1  documents 2" in out and "empty 1" in out
    assert main(["corpus", "stats", str(DATA / "cases.csv"), "--column", "oops"]) == 2
    assert "ROLE=NAME" in capsys.readouterr().err
    assert main(["corpus", "stats", str(DATA / "pubmed_sample.xml")]) == 0
    assert "retracted 1; deletions 2" in capsys.readouterr().out
