# Two commands on a fresh machine: `make chat` and `make test`. Both run `setup` first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup chat test lint format validate check run bench clean translations coverage eval vectors

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
	$(BIN)/python -m bot coverage
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check bot tests benchmarks
	$(BIN)/ruff format --check bot tests benchmarks

format: setup
	$(BIN)/ruff format bot tests benchmarks
	$(BIN)/ruff check --fix bot tests benchmarks

validate: setup
	$(BIN)/python -m bot validate

check: setup
	$(BIN)/python -m bot check

# Alerts and answers on the independent questions in eval/ (test half; slower than tests).
eval: setup
	$(BIN)/python -m bot eval

# Re-embed alarm phrases and examples after content or examples change (bot/data/vectors.npz).
vectors: setup
	$(BIN)/python -m bot vectors

run: setup
	$(BIN)/python -m bot run

# Speed against baselines in the same run (never part of `make test`); results are
# printed and written to benchmarks/results/*.json. Traffic stays on 127.0.0.1.
bench: setup
	$(BIN)/python benchmarks/bench_matcher.py
	$(BIN)/python benchmarks/bench_alerts.py
	$(BIN)/python benchmarks/bench_e2e.py
	$(BIN)/python benchmarks/bench_startup.py

clean:
	rm -rf $(VENV) .pytest_cache

# Regenerate the template from the code and content, then update every catalogue.
translations: setup
	$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ --no-wrap --sort-by-file \
		--project "NHS rights bot" --copyright-holder "NHS rights bot contributors" \
		-c TRANSLATORS: -o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-wrap

coverage: setup
	$(BIN)/python -m bot coverage
