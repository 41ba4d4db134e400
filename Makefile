# gcl — two commands do all setup on a fresh machine:
#   make demo   create .venv if missing, install torch 2.13.0 (CPU) and gcl, run GRACE on Cora
#               (from the data root, else the copy shipped in gcl/data/embedded/)
#   make test   the same setup, then the whole pytest suite
#   make docs   the same setup plus mkdocs, then build the documentation site into site/
#   make bench  the benchmark suite, then docs/benchmarks.md
#   make gpu-check  the prepared GPU check (benchmarks/gpu_check.py) into GPU_CHECK_OUT; tiny
#               sizes without a GPU. On a machine without the venv: make gpu-check PY=python3
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.gcl-installed
DOCS_STAMP := $(VENV)/.gcl-docs-installed
TORCH_VERSION ?= 2.13.0

# Use the offline mirror beside the checkout when GCL_DATA is not set.
ifeq ($(GCL_DATA),)
ifneq ($(wildcard ../shared/datasets/MANIFEST.md),)
export GCL_DATA := $(abspath ../shared/datasets)
endif
endif
export OUTDATED_IGNORE := 1

.PHONY: setup demo test lint bench gpu-check docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gcl demo

test: $(STAMP)
	$(PY) -m pytest -q

# The documentation site, built offline into site/ (built-in theme, no plugins); any warning fails.
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) -m mkdocs build --strict

# Every script in benchmarks/ (CPU unless BENCH_DEVICE=cuda), then docs/benchmarks.md.
BENCH_DEVICE ?= cpu
bench: $(STAMP)
	$(PY) benchmarks/loss_scaling.py --device $(BENCH_DEVICE)
	$(PY) benchmarks/training_step.py --device $(BENCH_DEVICE)
	$(PY) benchmarks/peer_grace.py
	$(PY) benchmarks/communities.py --datasets amazon-computers amazon-photo
	$(PY) benchmarks/adameow_loss.py
	$(PY) benchmarks/pathsim_ties.py
	$(PY) benchmarks/pot_orientation.py
	$(PY) benchmarks/report.py

# No setup step: a lent GPU machine has no network; it runs with its own python (PY=python3).
GPU_CHECK_OUT ?= gpu-check
gpu-check:
	$(PY) benchmarks/gpu_check.py $(GPU_CHECK_OUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check gcl tests examples benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
