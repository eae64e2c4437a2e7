"""Fault injection: an update interrupted at any step (exception, Ctrl-C, SIGKILL) loses nothing.

After every interruption the index must load, pass the integrity check, answer queries and hold
exactly the documents of one committed state (the one before or the one after the update), every
version folder on disk must be complete, and the next update must clean up and proceed.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kbqa.config import Config
from kbqa.index.check import check_index, check_version
from kbqa.index.store import IndexFolder
from kbqa.index.update import update_index
from kbqa.pipeline import KnowledgeBase

DOCS = Path(__file__).parent / "data" / "kb" / "docs.jsonl"

# Every write step of an update, in the order they happen: a fault is injected before the n-th call.
STEPS = [
    ("kbqa.index.build", "VersionWriter.add_documents"),
    ("kbqa.index.build", "VersionWriter.add_chunks"),
    ("kbqa.index.faiss_backend", "FaissIndex.save"),
    ("kbqa.lexical", "LexicalIndex.save"),
    ("kbqa.index.build", "file_checksums"),
    ("kbqa.index.build", "write_atomic"),  # the manifest
    ("kbqa.files", "fsync_dir"),  # staging sub-folders, after the rename, after each replace
    ("kbqa.index.store", "write_atomic"),  # the CURRENT pointer
    ("os", "rename"),  # staging -> vNNNNNN, and pruned versions -> .trash-*
    ("os", "replace"),  # temporary files -> manifest.json / CURRENT
    ("kbqa.index.store", "IndexFolder.discard"),  # pruning
    ("shutil", "rmtree"),  # trash and staging removal
]


def install_faults(on_step: Callable[[int, str], None]) -> Callable[[], None]:
    """Wrap every function of STEPS so that ``on_step(n, name)`` runs before the n-th call of any of
    them; returns an undo."""
    import importlib

    count = [0]
    undo = []
    for module_name, dotted in STEPS:
        owner = importlib.import_module(module_name)
        *path, attr = dotted.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)

        def wrapper(*args, _original=original, _name=f"{module_name}.{dotted}", **kwargs):
            count[0] += 1
            on_step(count[0], _name)
            return _original(*args, **kwargs)

        setattr(owner, attr, wrapper)
        undo.append((owner, attr, original))

    def restore() -> None:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)

    return restore


class Injected(Exception):
    pass


def states_of(*dirs: Path) -> list[dict[str, str]]:
    return [KnowledgeBase.load(d).manifest["documents_digest"] for d in dirs]


def assert_intact(idx: Path, states: list[dict[str, str]], encoder) -> str:
    """The index is whole and holds one of ``states``; returns its current version."""
    report = check_index(idx)
    assert report.ok, report.problems
    folder = IndexFolder(idx)
    for name in folder.versions():  # never a half-written or half-deleted version folder
        assert check_version(folder, name).ok, (name, check_version(folder, name).problems)
    kb = KnowledgeBase.load(idx, encoder=encoder)
    assert kb.manifest["documents_digest"] in states
    assert kb.search("warfarin bleeding", k=3)
    return kb.version


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    """Two versions of a corpus: B revises d2, drops d4, adds n1."""
    d = tmp_path_factory.mktemp("corpora")
    rows = [json.loads(line) for line in DOCS.read_text().splitlines()]
    a = d / "a.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in rows))
    b_rows = [({**r, "text": r["text"] + " Revised."} if r["id"] == "d2" else r) for r in rows if r["id"] != "d4"]
    b_rows.append({"id": "n1", "title": "Amiodarone and thyroid", "text": "Amiodarone causes thyroid dysfunction."})
    b = d / "b.jsonl"
    b.write_text("".join(json.dumps(r) + "\n" for r in b_rows))
    return a, b


@pytest.fixture(scope="module")
def pristine(tiny_cfg, corpora, tmp_path_factory) -> tuple[Path, list[dict[str, str]]]:
    """An index of A, and the two states an update from A to B may leave."""
    a, b = corpora
    root = tmp_path_factory.mktemp("pristine")
    KnowledgeBase.build([a], root / "a", tiny_cfg, progress=False)
    KnowledgeBase.build([b], root / "b", tiny_cfg, progress=False)
    return root / "a", states_of(root / "a", root / "b")


def test_exception_or_ctrl_c_at_every_write_step(pristine, corpora, tiny_cfg, tmp_path):
    from kbqa.embed import load_encoder

    encoder = load_encoder(tiny_cfg.embed)
    source, states = pristine
    names: list[str] = []  # a dry run names the steps; faults go where the writing moves on to a new kind of step
    dry = tmp_path / "dry"
    shutil.copytree(source, dry)
    restore = install_faults(lambda i, name: names.append(name))
    try:
        update_index(dry, [corpora[1]], sync=True, keep=1, encoder=encoder)
    finally:
        restore()
    steps = [i + 1 for i, name in enumerate(names) if i == 0 or name != names[i - 1]]
    assert len(steps) > 12 and "kbqa.index.store.IndexFolder.discard" in names
    outcomes = set()
    for n in [*steps, len(names) + 1]:  # the last one: no fault, the update finishes
        idx = tmp_path / f"idx{n}"
        shutil.copytree(source, idx)
        kind = KeyboardInterrupt if n % 2 else Injected  # Ctrl-C and errors alike, each step once

        def fail(i: int, name: str, n: int = n, kind: type[BaseException] = kind) -> None:
            if i == n:
                raise kind(f"injected at step {n}")

        restore = install_faults(fail)
        try:
            update_index(idx, [corpora[1]], sync=True, keep=1, encoder=encoder)
            finished = True
        except kind:
            finished = False
        finally:
            restore()
        version = assert_intact(idx, states, encoder)
        outcomes.add(version)
        report = update_index(idx, [corpora[1]], sync=True, keep=1, encoder=encoder)  # cleans up, proceeds
        assert KnowledgeBase.load(idx).manifest["documents_digest"] == states[1]
        assert not [p for p in idx.iterdir() if p.name.startswith(".") and p.name != ".lock"]
        assert report.committed == (version == "v000001")
        shutil.rmtree(idx)
        assert finished == (n > len(names))
    assert outcomes == {"v000001", "v000002"}  # faults hit before and after the commit


SERVER = r"""
import os, signal, sys
sys.path.insert(0, sys.argv[1])
import torch, sentence_transformers  # imported once; each update loop runs in a forked child
from test_faults import install_faults
from kbqa.config import Config
from kbqa.embed import load_encoder
from kbqa.index.update import update_index
model, idx, a, b = sys.argv[2:6]
for line in sys.stdin:
    step = int(line)
    pid = os.fork()
    if pid == 0:
        encoder = load_encoder(Config().replace(embed={"model": model}).embed)
        if step:
            install_faults(lambda i, _: i == step and os.kill(os.getpid(), signal.SIGKILL))
        print("ready", flush=True)
        while True:
            for src in (b, a):
                update_index(idx, [src], sync=True, keep=2, encoder=encoder)
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("dead", flush=True)
"""


def test_sigkill_at_steps_and_random_moments(pristine, corpora, tiny_cfg, tiny_encoder_dir, tmp_path):
    """SIGKILL a looping updater at chosen write steps and after random delays; check after each."""
    import time

    from kbqa.embed import load_encoder

    encoder = load_encoder(tiny_cfg.embed)
    source, states = pristine
    idx = tmp_path / "idx"
    shutil.copytree(source, idx)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(Path(__file__).parent), str(tiny_encoder_dir), str(idx), *map(str, corpora)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )
    rng = random.Random(0)
    # steps: the first update of the one-piece index (adopting it as segment s1, the new segment, the
    # version: ~23 steps), then the next ones (rows, saving, manifest, rename, pointer, pruning); then random moments
    plan = [(step, 0.0) for step in (1, 6, 9, 13, 17, 20, 26, 36, 44)] + [(0, rng.uniform(0.05, 1.0)) for _ in range(3)]
    seen = set()
    try:
        for step, delay in plan:
            server.stdin.write(f"{step}\n")
            server.stdin.flush()
            lines = [server.stdout.readline().strip() for _ in range(2)]  # the child's pid and "ready", any order
            pid = int(next(x for x in lines if x.isdigit()))
            if not step:
                time.sleep(delay)
                os.kill(pid, signal.SIGKILL)
            assert server.stdout.readline().strip() == "dead"
            assert_intact(idx, states, encoder)
            seen.add(states.index(KnowledgeBase.load(idx, encoder=encoder).manifest["documents_digest"]))
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    assert seen == {0, 1}  # kills landed before and after commits
    update_index(idx, [corpora[1]], sync=True, keep=2, encoder=encoder)  # the next run cleans up and proceeds
    assert not [p for p in idx.iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert KnowledgeBase.load(idx).manifest["documents_digest"] == states[1]
