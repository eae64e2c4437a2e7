#!/usr/bin/env bash
# Side-by-side retrieval comparison (eval/reports/retrieval/): BM25, dense and hybrid with the
# bundled MiniLM and with the tuned embedder, on MedQuAD dev, PubMedQA dev and claims dev.
# Run from the repository root with the venv active, after `bash eval/run_benchmarks.sh` has
# exported the MedQuAD and PubMedQA benchmarks. Indexes are built with the bf16 preset ("fast").
#
#   TUNED=models/embedder bash eval/scripts/run_retrieval_comparison.sh [medquad|pubmedqa|claims ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
tuned="${TUNED:-models/embedder}"
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then names=(claims pubmedqa medquad); fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"

python eval/scripts/export_claims.py --out eval/benchmarks/claims-dev
for name in "${names[@]}"; do
  bench="eval/benchmarks/$name-dev"
  for model in minilm tuned; do
    index="indexes/$name-dev-$model"
    if [[ ! -f "$index/CURRENT" ]]; then
      cfg="$(mktemp --suffix .toml)"
      if [[ $model == tuned ]]; then m="$tuned"; else m=all-MiniLM-L6-v2; fi
      printf '[embed]\nmodel = "%s"\n' "$m" > "$cfg"
      kbqa index build "$bench/corpus.jsonl" --index "$index" --preset fast --config "$cfg"
      rm -f "$cfg"
    fi
  done
  python eval/scripts/compare_retrieval.py --bench "$bench" \
    --index "minilm=indexes/$name-dev-minilm" --index "tuned=indexes/$name-dev-tuned" \
    --out "eval/reports/retrieval/$name-dev.json"
done
python eval/scripts/compare_retrieval.py --table eval/reports/retrieval/*-dev.json
