# Everything installs into .venv in this folder; a fresh machine needs only Python 3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEV := $(VENV)/.installed-dev
# the peers measured by `make bench` (MLflow, W&B, DVC, crowd-kit) pin versions of their
# own (pyarrow, opentelemetry...): they live in a venv apart, so the dev venv stays as tested
BENCH_VENV := .venv-bench
BENCH := $(BENCH_VENV)/.installed-bench
# BentoML pins opentelemetry apart from MLflow's: it gets a venv of its own
BENTOML_VENV := .venv-bentoml
BENTOML := $(BENTOML_VENV)/.installed-bentoml
# Evidently pins pandas < 3 and numpy apart from the bench venv's: it gets a venv of its own,
# where bench/monitoring.py runs Evidently's side as a subprocess (it needs no Assay there)
EVIDENTLY_VENV := .venv-evidently
EVIDENTLY := $(EVIDENTLY_VENV)/.installed-evidently
# Arize Phoenix (a trace store measured by bench/traces.py) pins OpenTelemetry, SQLAlchemy and
# pandas of its own: it gets a venv of its own and runs there as a server process
PHOENIX_VENV := .venv-phoenix
PHOENIX := $(PHOENIX_VENV)/.installed-phoenix
PYTEST_ARGS ?=

.PHONY: demo test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(BENCH): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV) || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
	touch $@

$(BENTOML):
	$(PYTHON) -m venv $(BENTOML_VENV) || python3 -m venv $(BENTOML_VENV)
	$(BENTOML_VENV)/bin/python -m pip install --quiet 'bentoml>=1.4' scikit-learn pandas joblib
	touch $@

$(EVIDENTLY):
	$(PYTHON) -m venv $(EVIDENTLY_VENV) || python3 -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(EVIDENTLY_VENV)/bin/python -m pip install --quiet 'evidently>=0.7,<0.8' 'pandas<3' numpy scipy
	touch $@

$(PHOENIX):
	$(PYTHON) -m venv $(PHOENIX_VENV) || python3 -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PHOENIX_VENV)/bin/python -m pip install --quiet 'arize-phoenix>=12,<21'
	touch $@

demo: $(DEV)
	$(BIN)/assay demo

test: $(DEV)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(BENCH) $(BENTOML) $(EVIDENTLY) $(PHOENIX)
	$(BENCH_VENV)/bin/python bench/run.py --out bench/RESULTS.md --bentoml-python $(BENTOML_VENV)/bin/python \
		--evidently-python $(EVIDENTLY_VENV)/bin/python --phoenix-python $(PHOENIX_VENV)/bin/python

screenshots: $(DEV)
	ASSAY_SCREENSHOTS=docs/img $(BIN)/python -m pytest -q tests/test_ui_browser.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(BENTOML_VENV) $(EVIDENTLY_VENV) $(PHOENIX_VENV) .pytest_cache .mypy_cache .ruff_cache
