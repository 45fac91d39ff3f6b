# neurobook: `make book` sets everything up and builds the book; `make test` runs the whole test suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neurobook-installed
PROFILE ?= full
ARGS   ?=

.PHONY: help venv book test test-fast lint notebooks bench lock clean student

help:
	@echo "make book      set up .venv, execute every chapter (profile $(PROFILE)), render the book"
	@echo "make test      run the whole test suite (unit, notebooks in the quick profile, headless browser)"
	@echo "make test-fast unit tests only"
	@echo "make lint      ruff"
	@echo "make bench     benchmarks (see benchmarks/README.md)"
	@echo "make student   student notebooks (exercises without solutions) -> book/_generated/student/"

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23"
	$(BIN)/python -m pip install -q torch==2.13.0 -c requirements-lock.txt
	$(BIN)/python -m pip install -q -r requirements.txt -c requirements-lock.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

book: $(STAMP)
	$(BIN)/neurobook build --profile $(PROFILE) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra $(ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check neurobook tests benchmarks notebooks

student: $(STAMP)
	$(BIN)/neurobook student $(ARGS)

notebooks: $(STAMP)
	$(BIN)/jupytext --sync notebooks/*.py

bench: $(STAMP)
	$(BIN)/python -m pip install -q --no-deps neuralpredictors==0.3.0
	NEUROBOOK_DATA_DIR=$${NEUROBOOK_DATA_DIR:-../shared/data} $(BIN)/python benchmarks/bench_v1_training.py $(ARGS)

lock: $(STAMP)
	(echo "# Resolved set from 'pip freeze' on Python 3.11 (make lock). Used as a constraints file by 'make venv'."; \
	 $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//') > requirements-lock.txt

clean:
	rm -rf _build book/_generated book/_widgets
