"""Layers point one way (STYLE.md principle 16), read from the code with ``ast``.

Every import of a kbqa module counts: module-level or inside a function, absolute or relative, and
``importlib.import_module`` with a literal name (an f-string with a literal prefix counts as every
module under that prefix; a ``"kbqa.x:func"`` string, resolved by importlib, as an import of ``kbqa.x``).
Importing a package counts as importing its ``__init__.py``; ``from kbqa.x import y`` counts as
importing ``kbqa.x.y`` when that is a module, else ``kbqa.x``.

- Training code is everything under ``kbqa/cli/`` and ``kbqa/tune/`` and every module whose own name
  contains ``train``; the runtime path is every other module except ``kbqa/__main__.py``. No module of
  the runtime path imports training code or the CLI.
- ``kbqa/pipeline.py`` imports nothing of ``kbqa/ddi/``.
- There are no import cycles among kbqa modules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "kbqa"
ENTRY_POINT = re.compile(r"^(kbqa(?:\.\w+)*):\w+$")  # "kbqa.cli.ddi:eval_main"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The kbqa module that importing ``name`` executes: ``name`` or its nearest enclosing package."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _import_module_arg(node: ast.Call) -> ast.expr | None:
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return node.args[0] if called in ("import_module", "__import__") and node.args else None


def imports_in(source: str, module: str, is_package: bool = False) -> set[str]:
    """The kbqa modules that the code ``source`` of ``module`` imports anywhere."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(_resolve(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in MODULES else _resolve(base))
        elif isinstance(node, ast.Call) and (arg := _import_module_arg(node)) is not None:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(_resolve(arg.value))
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                prefix = str(arg.values[0].value)  # f"kbqa.cli.{name}": any module under kbqa.cli
                found.update(m for m in MODULES if m.startswith(prefix))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if match := ENTRY_POINT.match(node.value):
                found.add(_resolve(match.group(1)))
    return {m for m in found if m is not None and m != module}


GRAPH = {
    module: imports_in(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    for module, path in MODULES.items()
}


def is_training(module: str) -> bool:
    parts = module.split(".")
    return parts[:2] in (["kbqa", "cli"], ["kbqa", "tune"]) or "train" in parts[-1]


def is_runtime(module: str) -> bool:
    return not is_training(module) and module != "kbqa.__main__"


def knots(graph: dict[str, set[str]]) -> list[list[str]]:
    """The sets of modules that import each other, directly or not (strongly connected components
    of more than one module, by Tarjan's algorithm), each sorted."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        order[v] = low[v] = len(order)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            knot = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(knot) > 1:
                found.append(sorted(knot))

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return sorted(found)


def shortest_cycle(graph: dict[str, set[str]], knot: list[str]) -> list[str]:
    """A shortest import cycle through the first module of ``knot`` (breadth-first), as a path back to it."""
    start, members = knot[0], set(knot)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        reached = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    reached.append(w)
        frontier = reached
    raise AssertionError(f"no cycle through {start} in {knot}")  # pragma: no cover


def test_the_walk_sees_every_form_of_import():
    source = '''
import importlib
import kbqa.index.manifest
from . import calibrate
from .classifier import softmax
from .. import errors
from ..index import store
from kbqa.pipeline import KnowledgeBase
from kbqa.serialize import citation
if TYPE_CHECKING:
    from kbqa.server import app
def f():
    from kbqa.lexical import tokenize
    importlib.import_module("kbqa.embed")
    return importlib.import_module(f"kbqa.evaluate.{name}")
TARGETS = {"x": "kbqa.corpus.jsonl:iter_documents"}
'''
    found = imports_in(source, "kbqa.read.reader")
    evaluate = {m for m in MODULES if m.startswith("kbqa.evaluate.")}
    assert evaluate and found == {
        "kbqa.index.manifest", "kbqa.read.calibrate", "kbqa.read.classifier", "kbqa.errors", "kbqa.index.store",
        "kbqa.pipeline", "kbqa.serialize", "kbqa.server.app", "kbqa.lexical", "kbqa.embed",
        "kbqa.corpus.jsonl", *evaluate,
    }
    assert imports_in("from . import errors", "kbqa", is_package=True) == {"kbqa.errors"}
    assert imports_in("from .base import VectorIndex", "kbqa.index", is_package=True) == {"kbqa.index.base"}
    # the real tree: a function-local import, importlib with an f-string and with an entry-point string
    assert "kbqa.pipeline" in GRAPH["kbqa"]
    assert "kbqa.cli.search" in GRAPH["kbqa.cli"]
    assert "kbqa.cli.ddi" in GRAPH["kbqa.cli.eval"]


def test_training_and_runtime_modules():
    assert all(map(is_training, ["kbqa.cli", "kbqa.cli.read", "kbqa.train_loop", "kbqa.tune.workdir", "kbqa.read.train", "kbqa.ddi.train"]))
    assert all(map(is_runtime, ["kbqa.read.reader", "kbqa.read.classifier", "kbqa.rerank", "kbqa.server.app"]))
    assert not is_runtime("kbqa.__main__") and not is_training("kbqa.__main__")


def test_runtime_path_imports_no_training_code_or_cli():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if is_runtime(module)
        for target in targets
        if is_training(target)
    )
    assert not wrong, "the runtime path imports training code or the CLI:\n" + "\n".join(wrong)


def test_pipeline_imports_nothing_of_ddi():
    wrong = sorted(t for t in GRAPH["kbqa.pipeline"] if t == "kbqa.ddi" or t.startswith("kbqa.ddi."))
    assert not wrong, f"kbqa.pipeline imports {wrong}; the CLI and server call kbqa.ddi with a knowledge base"


def test_cycle_finder():
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": {"b"}, "e": {"a"}, "f": {"g"}, "g": {"f"}, "h": set()}
    assert knots(graph) == [["a", "b", "c", "d"], ["f", "g"]]
    assert shortest_cycle(graph, ["a", "b", "c", "d"]) == ["a", "b", "c", "a"]
    assert shortest_cycle(graph, ["f", "g"]) == ["f", "g", "f"]
    assert knots({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = [
        " -> ".join(shortest_cycle(GRAPH, knot)) + (f"  (one knot: {', '.join(knot)})" if len(knot) > 2 else "")
        for knot in knots(GRAPH)
    ]
    assert not found, "import cycles among kbqa modules:\n" + "\n".join(found)


def test_core_imports_no_application():
    """The core (pipeline, retrieval, index, reader) never imports an application: kbqa.ddi, kbqa.diagnose or
    kbqa.treat."""
    core = [m for m in GRAPH if m in ("kbqa.pipeline", "kbqa.retrieve") or m.startswith(("kbqa.index", "kbqa.read"))]
    assert "kbqa.pipeline" in core and "kbqa.read.answer" in core
    wrong = sorted(f"{m} imports {t}" for m in core for t in GRAPH[m]
                   if t.startswith(("kbqa.ddi", "kbqa.diagnose", "kbqa.treat")))
    assert not wrong, "the core imports an application:\n" + "\n".join(wrong)
