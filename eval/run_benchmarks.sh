#!/usr/bin/env bash
# Regenerate the committed benchmarks' files, build their indexes and write the reports under
# eval/reports/. Run from the repository root with the venv active; the datasets are read from
# ../shared/data. Pass a reader folder as $READER (e.g. READER=models/reader) to score answers too.
#
#   bash eval/run_benchmarks.sh            # both benchmarks
#   bash eval/run_benchmarks.sh pubmedqa   # one of them
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
reader_args=()
if [[ -n "${READER:-}" ]]; then reader_args=(--reader "$READER"); fi

run() {  # name, then extra index-build options
  local name="$1"; shift
  local bench="eval/benchmarks/$name-dev"
  kbqa eval export "$name" --out "$bench"
  kbqa index build "$bench/corpus.jsonl" --index "indexes/$name-dev" --overwrite "$@"
  kbqa eval --index "indexes/$name-dev" --questions "$bench/questions.jsonl" --qrels "$bench/qrels.tsv" \
    --baseline bm25 --baseline dense "${reader_args[@]}" --out "eval/reports/$name-dev"
}

if [[ "$which" == all || "$which" == pubmedqa ]]; then run pubmedqa; fi
# 16k answers: the bf16 preset embeds ~2.5x faster on CPUs with bf16 (see kbqa/config.py).
if [[ "$which" == all || "$which" == medquad ]]; then run medquad --preset fast; fi
