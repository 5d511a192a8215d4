# Two commands do all the set-up on a fresh machine (Python 3.11+, git, make):
#   make dev    start the whole stack (embedded Postgres, Temporal + Web UI, worker, API)
#   make test   run the whole test suite against real Postgres and Temporal
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test install bench bench-scale bench-maintenance bench-tasks bench-platform-v1 bench-reads lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/capstan dev $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/protocols.py $(ARGS)

bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py $(ARGS)

bench-maintenance: $(STAMP)
	$(BIN)/python bench/maintenance.py $(ARGS)

bench-tasks: $(STAMP)
	$(BIN)/python bench/tasks.py $(ARGS)

bench-platform-v1: $(STAMP)
	$(BIN)/python bench/platform_v1.py $(ARGS)

bench-reads: $(STAMP)
	$(BIN)/python bench/reads.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
