#!/usr/bin/env bash
# BM25's fusion weight by query length (issue 18, "weights that depend on query length"): score fusion
# with BM25 at 0.1-1 (dense 1) on the held-out LiveQA fold 0 (full messages and subject + first
# sentence) and claims dev, every row scored by kbqa.evaluate (kbqa eval's path) with its scores per
# query-length bucket; then every rule "more than N words: BM25 at W" against the default 0.5 from
# those per-question scores (threshold 0: the weight for every query), and one rule (RULE, default the best
# on fold 0's full messages) run through kbqa eval beside the default, to check that reconstruction.
# Indexes: eval/benchmarks/<name>/corpus.jsonl built with `kbqa index build --preset fast` and the
# default (committed) embedder; liveqa-train-short shares liveqa-train's corpus and index. The
# committed embedder trained on LiveQA folds 1-4: only fold 0 is held out for it.
#
#   IDX=/work/idx bash eval/scripts/run_length_fusion_scan.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
idx="${IDX:-indexes}"
out=eval/reports/fusion
edges=10,20,40,80
modes=dense,hybrid-score-lex1,hybrid-score-lex0.7,hybrid-score-lex0.5,hybrid-score-lex0.3,hybrid-score-lex0.2,hybrid-score-lex0.1
for bench in liveqa-train liveqa-train-short; do
  python eval/scripts/compare_retrieval.py --bench "eval/benchmarks/$bench" --fold eval/splits/liveqa.json:0 \
    --modes "$modes" --by-length "$edges" --index "tuned=$idx/liveqa-train" --out "$out/length-$bench-fold0.json"
done
python eval/scripts/compare_retrieval.py --bench eval/benchmarks/claims-dev --modes "$modes" --by-length "$edges" \
  --index "tuned=$idx/claims-dev" --out "$out/length-claims-dev.json"
python eval/scripts/length_fusion_rules.py "$out"/length-liveqa-train-fold0.json "$out"/length-liveqa-train-short-fold0.json \
  "$out"/length-claims-dev.json --thresholds 0,20,30,40,60 --out "$out/length-rules.json"
rule="${RULE:-hybrid-score-long20-lex0.1}"
for bench in liveqa-train liveqa-train-short; do
  python eval/scripts/compare_retrieval.py --bench "eval/benchmarks/$bench" --fold eval/splits/liveqa.json:0 --no-bm25 \
    --modes "hybrid-score-lex0.5,$rule" --index "tuned=$idx/liveqa-train" --out "$out/length-rule-$bench-fold0.json"
done
python eval/scripts/compare_retrieval.py --bench eval/benchmarks/claims-dev --no-bm25 --modes "hybrid-score-lex0.5,$rule" \
  --index "tuned=$idx/claims-dev" --out "$out/length-rule-claims-dev.json"
# An embedder that never saw LiveQA (the bundled MiniLM: [embed] model = "all-MiniLM-L6-v2"), on all 446
# questions: does the length pattern hold with five times the questions? (index: the same build with --config
# a TOML holding that [embed] line, at $IDX/liveqa-train-minilm)
if [[ -d "$idx/liveqa-train-minilm" ]]; then
  for bench in liveqa-train liveqa-train-short; do
    python eval/scripts/compare_retrieval.py --bench "eval/benchmarks/$bench" --no-bm25 --modes "$modes" \
      --by-length "$edges" --index "minilm=$idx/liveqa-train-minilm" --out "$out/length-$bench-minilm.json"
  done
  python eval/scripts/length_fusion_rules.py "$out"/length-liveqa-train-minilm.json "$out"/length-liveqa-train-short-minilm.json \
    --embedder minilm --thresholds 0,20,30,40,60 --out "$out/length-rules-minilm.json"
fi
