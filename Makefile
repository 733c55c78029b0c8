# The two commands of the README: `make run` and `make test`. Everything else is what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-all lint bench clean

$(STAMP): setup.cfg pyproject.toml scripts/setup-system.sh package.json package-lock.json
	bash scripts/setup-system.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	npm ci --omit=dev --no-audit --no-fund --loglevel=error
	touch $(STAMP)

setup: $(STAMP)
	@[ ! -f scripts/fetch-fonts.sh ] || bash scripts/fetch-fonts.sh
	node scripts/bundle-assets.mjs
	bash scripts/compile-translations.sh

run: setup
	FLASK_APP=webapp $(BIN)/flask init-db --demo-if-empty
	FLASK_APP=webapp SWEEP_IN_PROCESS=1 LOG_FORMAT=$${LOG_FORMAT:-text} $(BIN)/flask run --host 127.0.0.1 --port 5000 --with-threads

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -m '' $(PYTEST_ARGS)

# Lint, format check and types (config in pyproject.toml); needs only the installed packages, not fonts or translations.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy workflows

bench: setup
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) instance test-output .pytest_cache
