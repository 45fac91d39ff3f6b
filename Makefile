# neurobook: `make book` sets everything up and builds the book; `make test` runs the whole test suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neurobook-installed
PROFILE ?= full
ARGS   ?=

.PHONY: help venv book test test-fast lint notebooks bench lock clean book-tools test-tools student

# Debian packages the book (npm: widget and math assets) and the tests (chromium: the headless-browser test) need.
# Installed with apt-get when missing and we may (root, or sudo without a password); otherwise we say what to run.
define ensure_tools
@missing=""; for t in $(1); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
if [ -n "$$missing" ]; then \
  pkgs=$$(echo $$missing | sed 's/\bnpm\b/nodejs npm/'); \
  if ! command -v apt-get >/dev/null 2>&1; then \
    echo "neurobook needs:$$missing (not found on PATH). Install them with your system's package manager, then rerun make." >&2; exit 1; \
  elif [ "$$(id -u)" = 0 ]; then SUDO=""; \
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; \
  else echo "neurobook needs:$$missing (not found on PATH). Install them with:  sudo apt-get install -y $$pkgs  then rerun make." >&2; exit 1; fi; \
  echo "[neurobook] installing $$pkgs with apt-get"; \
  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$pkgs >/dev/null || exit 1; \
fi
endef

help:
	@echo "make book      set up .venv, execute every chapter (profile $(PROFILE)), render the book"
	@echo "make test      run the whole test suite (unit, notebooks in the quick profile, headless browser)"
	@echo "make test-fast unit tests only"
	@echo "make lint      ruff"
	@echo "make bench     benchmarks (see benchmarks/README.md)"
	@echo "make student   student notebooks (exercises without solutions) -> book/_generated/student/"

$(STAMP): requirements.txt requirements-lock.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "neurobook needs $(PYTHON) (Debian: sudo apt-get install python3.11 python3.11-venv), or name another: make PYTHON=python3.12" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=23"
	$(BIN)/python -m pip install -q torch==2.13.0 -c requirements-lock.txt
	$(BIN)/python -m pip install -q -r requirements.txt -c requirements-lock.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

book-tools:
	$(call ensure_tools,npm)

test-tools:
	$(call ensure_tools,npm chromium)

book: $(STAMP) book-tools
	$(BIN)/neurobook build --profile $(PROFILE) $(ARGS)

test: $(STAMP) test-tools
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
	$(BIN)/python benchmarks/bench_v1_training.py $(ARGS)

lock: $(STAMP)
	(echo "# Resolved set from 'pip freeze' on Python 3.11 (make lock). Used as a constraints file by 'make venv'."; \
	 $(BIN)/pip freeze --exclude-editable | sed 's/+cpu$$//') > requirements-lock.txt

clean:
	rm -rf _build book/_generated book/_widgets
