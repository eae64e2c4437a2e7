#!/usr/bin/env bash
# The scan behind search.lexical_weight = 0.5: score fusion with BM25 at 1, 0.7, 0.5 and 0.3 (dense 1)
# on the real consumer questions (liveqa-train, full and short), claims dev and MedQuAD dev, with the
# tuned embedder and the bundled MiniLM, every row scored by kbqa.evaluate (kbqa eval's path).
# Indexes: eval/benchmarks/<name>/corpus.jsonl built with `kbqa index build --preset fast` (tuned:
# the default embedder; minilm: [embed] model = "all-MiniLM-L6-v2"); liveqa-train shares MedQuAD's
# 16,423 documents, so its indexes can be the MedQuAD ones updated with the 607 LiveQA answers.
#
#   bash eval/scripts/run_lexical_weight_scan.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
modes=dense,hybrid-score-lex1,hybrid-score-lex0.7,hybrid-score-lex0.5,hybrid-score-lex0.3
out=eval/reports/fusion
for bench in liveqa-train liveqa-train-short; do
  python eval/scripts/compare_retrieval.py --bench "eval/benchmarks/$bench" --modes "$modes" \
    --index tuned=indexes/liveqa-train-tuned --index minilm=indexes/liveqa-train-minilm --out "$out/lexical-weight-$bench.json"
done
python eval/scripts/compare_retrieval.py --bench eval/benchmarks/medquad-dev --modes "$modes" \
  --index tuned=indexes/medquad-dev-tuned --index minilm=indexes/medquad-dev-minilm --out "$out/lexical-weight-medquad-dev.json"
python eval/scripts/compare_retrieval.py --bench eval/benchmarks/claims-dev --modes "$modes" \
  --index tuned=indexes/claims-dev --out "$out/lexical-weight-claims-dev.json"
python eval/scripts/compare_retrieval.py --table "$out"/lexical-weight-*.json
