#!/usr/bin/env bash
# Issue 18, one lever: the global BM25 weight of score fusion (search.lexical_weight) with the committed
# embedder, on every retrieval benchmark at once, all rows from the same code (eval/reports/fusion/README.md,
# "Global BM25 weight with the committed embedder"). Score fusion with BM25 at 0.7, 0.5, 0.3 and 0.2
# (dense 1), plus dense and BM25 alone, every row scored by kbqa.evaluate (kbqa eval's path) through
# compare_retrieval.py, each question's nDCG@10 kept (--by-length); then every weight against 0.5 as a
# paired difference with its 95% bootstrap interval and paired-bootstrap p (length_fusion_rules.py with
# threshold 0: "every query at W"). The committed embedder trained on LiveQA folds 1-4, so LiveQA is fold 0.
# Missing benchmark files and indexes are made first (kbqa eval export; kbqa index build --preset fast,
# default embedder); medquad-dev and medquad-collections-dev share one corpus and index, liveqa-train and
# liveqa-train-short another.
#
#   IDX=/work/idx bash eval/scripts/run_lexical_weight_check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
idx="${IDX:-indexes}"
out=eval/reports/fusion
b=eval/benchmarks
modes=dense,hybrid-score-lex0.7,hybrid-score-lex0.5,hybrid-score-lex0.3,hybrid-score-lex0.2
edges=10,20,40,80

export_if_missing() {  # folder, then the export command
  local dir="$1"; shift
  [[ -f "$dir/corpus.jsonl" ]] || "$@"
}
export_if_missing $b/medquad-dev kbqa eval export medquad --out $b/medquad-dev
export_if_missing $b/medquad-collections-dev kbqa eval export medquad --split eval/splits/medquad-collections.json \
  --out $b/medquad-collections-dev
export_if_missing $b/pubmedqa-dev kbqa eval export pubmedqa --out $b/pubmedqa-dev
export_if_missing $b/claims-dev python eval/scripts/export_claims.py
export_if_missing $b/liveqa-train kbqa eval export liveqa --out $b/liveqa-train
export_if_missing $b/liveqa-train-short kbqa eval export liveqa --short --out $b/liveqa-train-short

build_if_missing() {  # benchmark whose corpus to index, index name
  [[ -d "$idx/$2" ]] || kbqa index build "$b/$1/corpus.jsonl" --index "$idx/$2" --preset fast --quiet
}
build_if_missing medquad-dev medquad-dev-tuned
build_if_missing pubmedqa-dev pubmedqa-dev-tuned
build_if_missing claims-dev claims-dev-tuned

scan() {  # benchmark, index name, report name, extra options
  local bench="$1" index="$2" name="$3"; shift 3
  python eval/scripts/compare_retrieval.py --bench "$b/$bench" --modes "$modes" --by-length "$edges" \
    --index "tuned=$idx/$index" --out "$out/lexical-weight-2-$name.json" "$@"
}
scan medquad-dev medquad-dev-tuned medquad-dev
scan medquad-collections-dev medquad-dev-tuned medquad-collections-dev
scan pubmedqa-dev pubmedqa-dev-tuned pubmedqa-dev
scan claims-dev claims-dev-tuned claims-dev
build_if_missing liveqa-train liveqa-train-tuned
scan liveqa-train liveqa-train-tuned liveqa-train-fold0 --fold eval/splits/liveqa.json:0
scan liveqa-train-short liveqa-train-tuned liveqa-train-short-fold0 --fold eval/splits/liveqa.json:0

files=()
for r in liveqa-train-fold0 liveqa-train-short-fold0 medquad-dev medquad-collections-dev claims-dev pubmedqa-dev; do
  files+=("$out/lexical-weight-2-$r.json")
done
python eval/scripts/length_fusion_rules.py "${files[@]}" --thresholds 0 --out "$out/lexical-weight-2-paired.json"
