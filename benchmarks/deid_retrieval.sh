#!/usr/bin/env bash
# Retrieval cost of de-identification: nDCG@10 (kbqa eval) on the LiveQA training questions (real consumer
# messages) over their reference answers, with de-identification off, on the queries only
# (`kbqa serve --deidentify-queries`), and on the queries and the indexed answers (`--deidentify`).
#
#   OMP_NUM_THREADS=1 bash benchmarks/deid_retrieval.sh [WORK_DIR] [PLAIN_INDEX]
#
# PLAIN_INDEX: an index of the same corpus built without de-identification (built here when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
work="${1:-/tmp/kbqa-deid-retrieval}"
plain="${2:-$work/index-plain}"
kbqa="${KBQA:-python -m kbqa}"
mkdir -p "$work"
bench="$work/liveqa-answers"
[ -f "$bench/qrels.tsv" ] || $kbqa eval export liveqa --out "$bench" --part all --no-distractors
[ -f "$plain/CURRENT" ] || $kbqa index build "$bench/corpus.jsonl" --index "$plain" --preset fast --quiet
[ -f "$work/index-deid/CURRENT" ] || $kbqa index build "$bench/corpus.jsonl" --index "$work/index-deid" --preset fast --quiet --deidentify
$kbqa deid --input "$bench/questions.jsonl" --out "$work/questions-deid.jsonl" --text-column question --report --quiet
$kbqa eval --index "$plain" --questions "$bench/questions.jsonl" --qrels "$bench/qrels.tsv" --out "$work/off" --no-progress
$kbqa eval --index "$plain" --questions "$work/questions-deid.jsonl" --qrels "$bench/qrels.tsv" --out "$work/queries" --no-progress
$kbqa eval --index "$work/index-deid" --questions "$work/questions-deid.jsonl" --qrels "$bench/qrels.tsv" --out "$work/both" --no-progress
python - "$work" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
for name in ("off", "queries", "both"):
    report = json.loads((work / name / "report.json").read_text())
    print(name, json.dumps(report.get("retrieval", report).get("nDCG@10", report.get("retrieval")), default=str)[:200])
PY
