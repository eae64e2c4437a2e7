"""``auto`` precision: bf16 autocast only where this machine runs it faster than fp32.

A CPU that advertises bf16 is not necessarily faster in it: with AMX bf16 matmuls run 2.4-2.7x
fp32, with AVX512-BF16 alone 1.5x on an AMD EPYC but 0.68x on an Intel Xeon
(``benchmarks/index_throughput.py --bf16``). So ``auto`` decides by what the hardware does:

* a CUDA device with bf16 support → bf16 ("cuda");
* a CPU with AMX (``amx_bf16`` in /proc/cpuinfo) → bf16 ("amx");
* a CPU without native bf16 → fp32 ("no native bf16");
* any other CPU → a timed probe (a MiniLM-sized feed-forward block in fp32 and in bf16 autocast
  on one thread, about 0.1 s) whose speed-up is cached per CPU model and torch version in
  ``$KBQA_CACHE/precision.json`` (default ``~/.cache/kbqa``): bf16 when it is at least 1.1x.

Nothing here runs at import time; the decision is made when a model is loaded with ``auto``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, NamedTuple

from kbqa.errors import KbqaError
from kbqa.files import write_atomic

PRECISIONS = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.1  # bf16 must beat fp32 by this much on the probe: a tie is not worth the rounding
CACHE_FILE = "precision.json"


class Precision(NamedTuple):
    """What a model computes in (``fp32`` or ``bf16``) and why: ``requested``, ``cuda``, ``amx``, ``probe 1.8x``..."""

    name: str
    reason: str

    def __str__(self) -> str:
        return self.name if self.reason == "requested" else f"{self.name} ({self.reason})"


def resolve(precision: str, device: Any = "cpu") -> Precision:
    """The precision to run ``device`` in: ``fp32``/``bf16`` as requested, or ``auto`` decided as above."""
    if precision not in PRECISIONS:
        raise KbqaError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return Precision(precision, "requested")
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        import torch

        return Precision("bf16", "cuda") if torch.cuda.is_bf16_supported() else Precision("fp32", "cuda without bf16")
    if kind != "cpu":
        return Precision("fp32", f"{kind}: fp32 by default")
    flags = cpu_flags()
    if "amx_bf16" in flags:
        return Precision("bf16", "amx")
    if not native_bf16(flags):
        return Precision("fp32", "no native bf16")
    speedup = cached_speedup()
    return Precision("bf16" if speedup >= MIN_SPEEDUP else "fp32", f"probe {speedup:.2f}x")


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(flags: set[str]) -> bool:
    if flags & {"avx512_bf16", "amx_bf16", "bf16"}:  # x86 AVX512-BF16 / AMX; "bf16" on aarch64
        return True
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError, ImportError):  # pragma: no cover - builds without oneDNN
        return False


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_path() -> Path:
    from kbqa.paths import cache_dir

    return cache_dir() / CACHE_FILE


def cached_speedup() -> float:
    """bf16-autocast speed over fp32 on this CPU: from the cache, else probed once and stored."""
    import torch

    key = f"{cpu_model()} | {os.cpu_count()} cpus | torch {torch.__version__}"
    path = cache_path()
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if not isinstance(cache, dict):
        cache = {}
    try:
        return float(cache[key]["speedup"])
    except (KeyError, TypeError, ValueError):
        pass
    speedup = probe_speedup()
    cache[key] = {"speedup": round(speedup, 3), "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:  # a read-only home just means probing again next time
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(cache, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass
    return speedup


def probe_speedup(rows: int = 512, width: int = 384, repeats: int = 3) -> float:
    """fp32 time / bf16-autocast time of a MiniLM-sized feed-forward block (best of ``repeats``).

    On one thread: the question is what the CPU's kernels do, and threads waiting on cores that
    other jobs keep busy would time the machine's load instead."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(rows, width, generator=gen)
    w1, w2 = torch.randn(4 * width, width, generator=gen), torch.randn(width, 4 * width, generator=gen)
    linear, gelu = torch.nn.functional.linear, torch.nn.functional.gelu

    def run(bf16: bool) -> float:
        best = float("inf")
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(repeats + 1):
                t = time.perf_counter()
                linear(gelu(linear(x, w1)), w2)
                if i:  # the first call warms up the kernels
                    best = min(best, time.perf_counter() - t)
        return best

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fp32, bf16 = run(False), run(True)
    finally:
        torch.set_num_threads(threads)
    return fp32 / max(bf16, 1e-9)
