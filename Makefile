# Two commands set everything up: `make demo` and `make test`.
# Each creates .venv if missing, installs the CPU build of torch 2.13.0 first
# (a bare torch requirement would pull a multi-GB CUDA build), then the package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format docs bench clean

# PYTHONWARNINGS: setuptools warns on every editable install about same-named folders in the
# working directory, which a user cannot act on.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	PYTHONWARNINGS="ignore:Editable installation" \
		$(PIP) install --quiet -c constraints.txt -e ".[test,docs,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/spatialfuse demo --out outputs/demo --overwrite

test: $(STAMP)
	$(BIN)/ruff check spatialfuse tests benchmarks tutorials
	$(BIN)/ruff format --check spatialfuse tests benchmarks tutorials
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check spatialfuse tests benchmarks tutorials

format: $(STAMP)
	$(BIN)/ruff format spatialfuse tests benchmarks tutorials
	$(BIN)/ruff check --fix spatialfuse tests benchmarks tutorials

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	cd benchmarks && ../$(BIN)/python bench_domains.py
	cd benchmarks && ../$(BIN)/python bench_clustering.py
	cd benchmarks && ../$(BIN)/python bench_scaling.py
	cd benchmarks && ../$(BIN)/python bench_histology.py
	cd benchmarks && for part in synthetic dlpfc sweep report; do \
		../$(BIN)/python bench_fusion.py $$part || exit 1; done
	bash benchmarks/peers/setup.sh
	cd benchmarks && ../$(BIN)/python bench_peers.py

clean:
	rm -rf $(VENV) outputs docs/_build .pytest_cache .ruff_cache
