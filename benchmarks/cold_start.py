"""Cold start of the CLI: `kbqa search --json` and `kbqa ask --json` against `python -c "import torch"`.

Every run is a fresh process, as a user's shell starts it. The floor (importing torch, which any
command that embeds a query needs) is measured in the same run, interleaved with the commands, so
the ratios hold on a busy machine. The index holds 1,000 documents: PubMedQA's 500 abstracts and
the first 500 MedQuAD NINDS answers (built once into indexes/cold-1k, gitignored; reused after).
Each command also runs with OMP_NUM_THREADS = all cores, torch's default (for information: the CLI
gives a single search or ask only the cores that other jobs leave idle, because on a busy machine
torch's threads wait on each other). Then each command is run once
more in-process to list the heavy modules it imported.

    python benchmarks/cold_start.py [--index indexes/cold-1k] [--runs 3] [--out benchmarks/results/cold_start.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
MEDQUAD_NINDS = ROOT.parent / "shared" / "data" / "medquad" / "6_NINDS_QA"
QUERY = "treatment options for restless legs syndrome"
QUESTION = "Is laparoscopic cholecystectomy safe in elderly patients?"
# modules a query-time command should not need (kbqa.read and torch are needed by `ask` only)
HEAVY = ["torch", "transformers", "sentence_transformers", "faiss", "bm25s", "tokenizers", "safetensors",
         "kbqa.read", "kbqa.ddi", "kbqa.tune", "fastapi", "uvicorn", "matplotlib", "sklearn", "scipy", "pandas",
         "accelerate", "langchain_text_splitters", "ir_measures"]
# runs one CLI command in-process, output discarded, then prints which of HEAVY it imported
PROBE = """
import contextlib, io, json, sys
from kbqa.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "modules": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def kbqa_command() -> list[str]:
    """The installed `kbqa` console script next to this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("kbqa")
    return [str(script)] if script.exists() else [shutil.which("kbqa") or "kbqa"]


def write_corpus(out: Path, per_source: int = 500) -> int:
    from kbqa.corpus import iter_documents

    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for source, fmt in (("pubmedqa", None), (str(MEDQUAD_NINDS), "medquad")):
            for i, doc in enumerate(iter_documents(source, fmt)):
                if i == per_source:
                    break
                f.write(json.dumps({"id": doc.doc_id, "title": doc.title, "text": doc.text, **doc.meta}) + "\n")
                n += 1
    return n


def ensure_index(index: Path) -> None:
    from kbqa.index.store import IndexFolder

    if IndexFolder(index).exists():
        return
    corpus = index.with_name(index.name + ".corpus.jsonl")
    index.parent.mkdir(parents=True, exist_ok=True)
    n = write_corpus(corpus)
    print(f"building {index} from {n} documents ({corpus.name}) ...", flush=True)
    subprocess.run([*kbqa_command(), "index", "build", str(corpus), "--index", str(index), "--quiet"], check=True)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def imported(args: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["modules"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", default=str(ROOT / "indexes" / "cold-1k"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", help="also write the table here")
    args = ap.parse_args()
    index = Path(args.index)
    ensure_index(index)

    kbqa = kbqa_command()
    commands = {
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "kbqa search --json": [*kbqa, "search", "--index", str(index), QUERY, "--json"],
        "kbqa ask --json": [*kbqa, "ask", "--index", str(index), QUESTION, "--json"],
    }
    # for information: torch's own default, one thread per core however busy the cores are (the
    # CLI sizes its threads to the idle cores for a single search or ask; OMP_NUM_THREADS overrides)
    every_core = {"OMP_NUM_THREADS": str(len(os.sched_getaffinity(0)))}
    envs = {"kbqa search --json, all cores": every_core, "kbqa ask --json, all cores": every_core}
    commands["kbqa search --json, all cores"] = commands["kbqa search --json"]
    commands["kbqa ask --json, all cores"] = commands["kbqa ask --json"]
    for cmd in commands.values():  # warm the page cache (files, weights): cold = fresh process, not cold disk
        timed(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):  # interleaved, so a busy spell hits every command alike
        for name, cmd in commands.items():
            times[name].append(timed(cmd, envs.get(name)))
    floor = statistics.median(times['python -c "import torch"'])

    from kbqa.cli import threads_for_idle_cores
    from kbqa.precision import cpu_model, resolve

    lines = [
        f"cold start, median of {args.runs} fresh processes; {cpu_model()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} (idle cores now: {threads_for_idle_cores()}); index {index.name}; "
        f"auto precision: {resolve('auto', 'cpu')}",
        f"{'command':30s} {'median s':>9s} {'x floor':>8s}  runs",
    ]
    for name, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"{name:30s} {med:9.2f} {med / floor:8.2f}  {' '.join(f'{t:.2f}' for t in ts)}")
    lines.append("")
    lines.append("heavy modules imported:")
    lines.append(f"  {'kbqa search':12s} {', '.join(imported(['search', '--index', str(index), QUERY, '--json']))}")
    lines.append(f"  {'kbqa ask':12s} {', '.join(imported(['ask', '--index', str(index), QUESTION, '--json']))}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
