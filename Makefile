# Two commands on a fresh machine: `make chat` and `make test`. Both run `setup` first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chat test lint format validate check run bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

chat: setup
	$(BIN)/python -m bot chat

test: setup
	$(BIN)/python -m bot validate
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check bot tests
	$(BIN)/ruff format --check bot tests

format: setup
	$(BIN)/ruff format bot tests
	$(BIN)/ruff check --fix bot tests

validate: setup
	$(BIN)/python -m bot validate

check: setup
	$(BIN)/python -m bot check

run: setup
	$(BIN)/python -m bot run

clean:
	rm -rf $(VENV) .pytest_cache
