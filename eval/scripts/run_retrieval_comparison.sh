#!/usr/bin/env bash
# Side-by-side retrieval comparison (eval/reports/retrieval/) and the fusion variants (eval/reports/fusion/):
# BM25, dense and hybrid with the bundled MiniLM and with the tuned embedder, on MedQuAD dev, PubMedQA dev
# and claims dev, every row scored by kbqa.evaluate (what `kbqa eval` runs: >= 100 documents ranked per
# question). Run from the repository root with the venv active; the benchmarks are exported here
# (MedQuAD and PubMedQA as eval/run_benchmarks.sh does). Indexes are built with the bf16 preset ("fast").
#
#   TUNED=kbqa-medical-minilm bash eval/scripts/run_retrieval_comparison.sh [medquad|pubmedqa|claims ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
tuned="${TUNED:-kbqa-medical-minilm}"
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then names=(claims pubmedqa medquad); fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"

for name in "${names[@]}"; do
  bench="eval/benchmarks/$name-dev"
  if [[ $name == claims ]]; then python eval/scripts/export_claims.py --out "$bench"
  elif [[ ! -f "$bench/qrels.tsv" ]]; then kbqa eval export "$name" --out "$bench"; fi
  for model in minilm tuned; do
    index="indexes/$name-dev-$model"
    if [[ ! -f "$index/CURRENT" ]]; then
      cfg="$(mktemp --suffix .toml)"
      if [[ $model == tuned ]]; then m="$tuned"; else m=all-MiniLM-L6-v2; fi
      printf '[embed]\nmodel = "%s"\n' "$m" > "$cfg"
      kbqa index build "$bench/corpus.jsonl" --index "$index" --preset fast --config "$cfg" --quiet
      rm -f "$cfg"
    fi
  done
  python eval/scripts/compare_retrieval.py --bench "$bench" \
    --index "minilm=indexes/$name-dev-minilm" --index "tuned=indexes/$name-dev-tuned" \
    --out "eval/reports/retrieval/$name-dev.json"
  if [[ $name != claims ]]; then
    python eval/scripts/compare_retrieval.py --bench "$bench" --index "minilm=indexes/$name-dev-minilm" \
      --modes dense,hybrid-rrf,hybrid-rrf-dense2,hybrid-rrf-lex2,hybrid-score --out "eval/reports/fusion/$name-dev.json"
  fi
done
python eval/scripts/compare_retrieval.py --table eval/reports/retrieval/*-dev.json
