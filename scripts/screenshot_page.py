"""Drive the evidence page in headless Chromium: enter the key, ask a question, check the answer, save a PNG.

Uses Debian's chromium (`apt-get install -y chromium`) through Playwright's Python package
(`pip install playwright`; never `playwright install`), with a fresh profile and no network
features. Starts `kbqa serve` on loopback with a throwaway API key unless --url is given.

    python scripts/screenshot_page.py --index indexes/pubmedqa-dev --reader models/reader \\
        --question "Does loss of consciousness predict neuropsychological decrements after concussion?" \\
        --out docs/evidence_page.png
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """Debian's chromium, if installed."""
    for candidate in (CHROMIUM, shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def check_page(
    url: str,
    question: str,
    *,
    api_key: str | None = None,
    out: Path | None = None,
    mode: str = "ask",
    k: int = 3,
    timeout_s: float = 120.0,
    width: int = 960,
) -> dict[str, Any]:
    """Open ``url``, ask ``question`` (``mode`` "ask" or "search"), wait for evidence, screenshot to ``out``.

    Returns what the page shows: verdict, confidence, evidence count, highlighted sentences, status line.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium not found: apt-get install -y chromium")
    profile = tempfile.mkdtemp(prefix="kbqa-chromium-")
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": 900},
                device_scale_factor=1,
            )
            try:
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(url, wait_until="domcontentloaded", timeout=timeout_s * 1000)
                if api_key is not None:
                    page.wait_for_selector("#key-row:not([hidden])", timeout=timeout_s * 1000)
                    page.fill("#api-key", api_key)
                    page.dispatch_event("#api-key", "change")
                    page.wait_for_selector("#index-info:not(:empty), #status.error", timeout=timeout_s * 1000)
                page.fill("#question", question)
                page.fill("#k", str(k))
                page.click("#ask-button" if mode == "ask" else "#search-button")
                page.wait_for_selector("#evidence-section:not([hidden]), #status.error", timeout=timeout_s * 1000)
                shown = {
                    "status": page.text_content("#status"),
                    "status_is_error": page.get_attribute("#status", "class") == "error",
                    "index_info": page.text_content("#index-info"),
                    "verdict": page.text_content("#verdict") if mode == "ask" else None,
                    "confidence": page.text_content("#confidence") if mode == "ask" else None,
                    "evidence": page.locator("#evidence > li").count(),
                    "highlights": page.locator("#evidence mark").all_text_contents(),
                    "citations": page.locator("#evidence .citation").all_text_contents()[:3],
                    "disclaimer": page.text_content("#disclaimer"),
                    "page_errors": errors,
                }
                if out is not None:
                    out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(out), full_page=True)
                return shown
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def shrink_png(path: Path, colors: int) -> None:
    """Re-save with a ``colors`` palette: a text page stays legible at a fraction of the size."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def start_server(
    index: str, reader: str | None, key_file: Path, timeout_s: float = 180.0
) -> tuple[subprocess.Popen, str]:
    from kbqa.server import launch

    serve = ["--index", index, "--api-key-file", str(key_file), "--log-level", "warning"]
    if reader:
        serve += ["--reader", reader]
    return launch.start(serve, cwd=ROOT, timeout_s=timeout_s)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index", default="indexes/pubmedqa-dev")
    p.add_argument("--reader", help="reader folder (without one the page can only search)")
    p.add_argument("--url", help="a running server instead of starting one")
    p.add_argument("--api-key", help="with --url: the server's key")
    p.add_argument(
        "--question", default="Does loss of consciousness predict neuropsychological decrements after concussion?"
    )
    p.add_argument("--mode", choices=["ask", "search"], default=None, help="default: ask when a reader is given")
    p.add_argument("--out", default="docs/evidence_page.png")
    p.add_argument("-k", type=int, default=3, help="passages to show (keeps the PNG small)")
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--colors", type=int, default=128, help="palette size of the saved PNG (0: keep full colour)")
    args = p.parse_args(argv)
    if chromium_path() is None:
        print("chromium not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    mode = args.mode or ("ask" if args.reader or args.url else "search")
    proc = None
    with tempfile.TemporaryDirectory() as tmp:
        key = args.api_key
        url = args.url
        if url is None:
            key = secrets.token_urlsafe(24)
            key_file = Path(tmp) / "key"
            key_file.write_text(key + "\n")
            proc, url = start_server(args.index, args.reader, key_file)
        try:
            shown = check_page(
                url, args.question, api_key=key, out=Path(args.out), mode=mode, k=args.k, width=args.width
            )
        finally:
            if proc is not None:
                from kbqa.server import launch

                launch.stop(proc)
    if args.colors:
        shrink_png(Path(args.out), args.colors)
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    ok = shown["evidence"] > 0 and not shown["status_is_error"] and not shown["page_errors"]
    print(f"screenshot: {args.out}" if ok else "the page did not show evidence", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
