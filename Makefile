# lakemesh: `make` lists the targets. Every target bootstraps .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test bench lint format clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install lakemesh with every extra (demo, tests, benchmarks)

demo: $(STAMP) ## Run the whole demo story on the embedded defaults (SQLite, local files)
	$(BIN)/lakemesh demo

test: $(STAMP) ## Run the full test suite (starts a real PostgreSQL server itself)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) ## Run the benchmarks; results in benchmarks/results/, table in BENCHMARKS.md
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

lint: $(STAMP) ## ruff (lint + format check), mypy, and the import boundaries between packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python .ci/check_imports.py

format: $(STAMP) ## Apply ruff's formatter and autofixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info src/*.egg-info
