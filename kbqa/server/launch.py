"""Start ``kbqa serve`` in a subprocess on a free loopback port and wait until /health answers.

Used by the load benchmark and the evidence-page screenshot script.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(serve_args: list[str], *, cwd: str | Path | None = None, timeout_s: float = 180.0) -> tuple[subprocess.Popen, str]:
    """Run ``kbqa serve --host 127.0.0.1 --port P SERVE_ARGS...``; returns (process, base URL)."""
    port = free_port()
    cmd = [sys.executable, "-m", "kbqa", "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited while starting:\n{proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as resp:
                if resp.status == 200:
                    return proc, url
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    stop(proc)
    raise SystemExit(f"the server did not answer /health within {timeout_s} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
