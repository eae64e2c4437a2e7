"""Choose the confidence temperature of ``kbqa diagnose`` on the dev cases: the expected calibration error of
the first condition's confidence against top-1 hits, per temperature.

    python eval/benchmarks/diagnose-dev/calibrate.py --index indexes/medquad \
        --cases /tmp/diagnose-dev/cases-dev.jsonl --names /tmp/diagnose-dev/names.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from kbqa.diagnose import diagnose  # noqa: E402
from kbqa.diagnose.benchmark import _excluded, gold_rank  # noqa: E402
from kbqa.diagnose.cases import read_cases  # noqa: E402
from kbqa.diagnose.differential import DEFAULT, confidences  # noqa: E402
from kbqa.evaluate.metrics import expected_calibration_error  # noqa: E402

TEMPERATURES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--names", default=None)
    args = ap.parse_args()
    from kbqa.pipeline import KnowledgeBase

    kb = KnowledgeBase.load(args.index)
    names = json.loads(Path(args.names).read_text()) if args.names else {}
    scores, hit1 = [], []
    for case in read_cases(args.cases, label_column="label"):
        # every candidate's score: k large enough to hold them all
        d = diagnose(kb, case.text, k=1000, exclude_docs=_excluded(case, "doc_id" if "doc_id" in case.row else None))
        scores.append([c.score for c in d.conditions])
        hit1.append(gold_rank(d, [case.label, *names.get(case.label, [])]) == 1)
    print(f"{len(scores)} cases, top-1 accuracy {sum(hit1) / len(hit1):.3f} (default temperature {DEFAULT.temperature})")
    for t in TEMPERATURES:
        top = [float(confidences(s, t)[0]) if s else 0.0 for s in scores]
        print(f"T={t:<5} mean top-1 confidence {sum(top) / len(top):.3f}  ECE {expected_calibration_error(top, hit1):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
