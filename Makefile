# kbqa: the two quick-start commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
INDEX  ?= indexes/demo
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-slow test-dist wheel-check bench clean-index

# CPU torch first (from the local wheel store): asking pip for plain "torch" pulls a multi-GB CUDA build.
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

install: $(BIN)/.installed

# Builds the demo index once (PubMedQA abstracts + MedQuAD CancerGov/NINDS answers from ../shared/data),
# then prints cited passages and answers for sample questions. Later runs reuse the index.
demo: install
	$(BIN)/python scripts/demo.py --index $(INDEX)

test: install
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# the Ray Data build (optional extra kbqa[dist]) against the single-process build, on a local Ray instance
test-dist: install
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dist]"
	$(BIN)/python -m pytest -q tests/test_dist_ray.py

# the wheel (python -m build) in a fresh venv, run from an empty folder: with and without $KBQA_HOME
wheel-check: install
	PYTHON=$(BIN)/python bash scripts/wheel_check.sh

bench: install
	$(BIN)/python benchmarks/index_throughput.py

clean-index:
	rm -rf $(INDEX)
