"""Where a build's memory and time go, phase by phase (issue #22): the scale benchmark's build stage
(``benchmarks/scale_benchmark.py``, same corpus and replayed vectors) with RSS sampled every 0.1 s and
each sample tagged with the build phase running at that moment.

    KBQA_HOME=. OMP_NUM_THREADS=1 python benchmarks/build_phases.py --chunks 1000000 --out DIR --source-index IDX [--profile]

Prints the build stage's result and, per phase, the peak anonymous / file-backed / total RSS in GB;
``--profile`` adds the main thread's cProfile (the chunker thread shows up as waiting on its queue).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_benchmark as sb  # noqa: E402


def tag(phase: list[str], owner: object, name: str, label: str) -> None:
    real = getattr(owner, name)

    def wrapped(*a: object, **k: object) -> object:
        before, phase[0] = phase[0], label
        try:
            return real(*a, **k)
        finally:
            phase[0] = before

    setattr(owner, name, wrapped)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chunks", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--source-index", required=True)
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    import faiss

    import kbqa.lexical as lexical
    from kbqa.index import chunkstore, faiss_approx, ivf_lists

    faiss.omp_set_num_threads(1)
    out = Path(args.out)
    shutil.rmtree(out / "index", ignore_errors=True)
    phase = ["streaming"]
    tag(phase, chunkstore.StoreWriter, "finish", "store indexes")
    tag(phase, faiss_approx.TrainedFaissIndex, "ready", "training + adding")
    tag(phase, ivf_lists.ListSpill, "add", "adding (spilled lists)")
    tag(phase, ivf_lists.ListSpill, "write_index", "writing faiss.index")
    tag(phase, faiss_approx.TrainedFaissIndex, "_write", "writing vectors.npy, ids.json")
    tag(phase, lexical, "write_lexical", "bm25")
    peaks: dict[str, list[float]] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            s = sb.rss_split_gb()
            p = peaks.setdefault(phase[0], [0.0, 0.0, 0.0])
            for i, v in enumerate((s["RssAnon"], s["RssFile"], s["RssAnon"] + s["RssFile"])):
                p[i] = max(p[i], v)
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    result = sb.stage_build(argparse.Namespace(source_index=args.source_index), out / "index", args.chunks, seed=1)
    if prof:
        prof.disable()
    done.set()
    print(json.dumps({"result": result, "peak_rss_gb_by_phase (anonymous, file-backed, total)":
                      {k: [round(x, 3) for x in v] for k, v in peaks.items()}}, indent=1))
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
