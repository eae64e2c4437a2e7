"""What a LoRA adapter (docs/adapters.md) costs at load: size on disk, and the wall time of a fresh
process that loads the embedder and encodes one query, for the base alone and for base + adapter.

The adapter is random (peft LoRA with ``init_lora_weights=False``, no training): its cost does not
depend on what it learnt. Runs alternate base / adapter so the ratio holds on a busy machine; the
plain base loads through kbqa's light BERT path where it can, the adapter through sentence-transformers
and peft (merged on load). Also checks that the fresh process reproduces the in-memory adapted vectors.

    python benchmarks/adapter_load.py [--base all-MiniLM-L6-v2|all-mpnet-base-v2|FOLDER] [--rank 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUERY = "treatment options for restless legs syndrome"


def fresh_load(model: str, out: Path) -> float:
    code = ("import numpy as np\nfrom kbqa.config import EmbedConfig\nfrom kbqa.embed import load_encoder\n"
            f"enc = load_encoder(EmbedConfig(model={model!r}, precision='fp32'))\n"
            f"np.save({str(out)!r}, enc.encode_queries([{QUERY!r}]))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="all-MiniLM-L6-v2")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    import numpy as np
    import torch
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import SentenceTransformer

    from kbqa.embed import resolve_model
    from kbqa.tune.lora import DEFAULT_TARGETS, save_adapter

    base = resolve_model(args.base)
    torch.manual_seed(0)
    model = SentenceTransformer(base, device="cpu")
    targets = DEFAULT_TARGETS.get(model[0].model.config.model_type)
    model[0].model = get_peft_model(model[0].model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                                                               init_lora_weights=False, target_modules=targets))
    model.eval()
    with torch.inference_mode():
        expected = model.encode([QUERY], normalize_embeddings=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "adapter"
        record = save_adapter(model, folder, base=args.base, base_folder=base)
        times: dict[str, list[float]] = {"base": [], "adapter": []}
        for _ in range(args.runs):
            times["base"].append(fresh_load(base, Path(tmp) / "base.npy"))
            times["adapter"].append(fresh_load(str(folder), Path(tmp) / "adapter.npy"))
        got = np.load(Path(tmp) / "adapter.npy")
        config = json.loads((folder / "adapter_config.json").read_text())
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"base {args.base}: {record['base']['weights_sha256'][:12]}..., adapter rank {args.rank} on "
          f"{sorted(config['target_modules'])}: {record['adapter']['file_bytes']:,} bytes")
    print(f"fresh process, load + encode one query (median of {args.runs}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.1f}): base {median['base']:.1f} s, adapter {median['adapter']:.1f} s "
          f"({median['adapter'] / median['base']:.2f}x)")
    print(f"max |fresh adapter vector - in-memory adapted| = {float(np.abs(got - expected).max()):.2e}")


if __name__ == "__main__":
    main()
