# graphops - the two commands that matter: `make demo` and `make test`.
# Every target installs what it needs: a virtualenv from pyproject.toml, and Azurite from package.json.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST := $(BIN)/pytest

.PHONY: local demo test lint unit integration checkov browser screenshots console test-slow bench run azurite venv node clean help mutate

help:
	@echo "make demo         run the whole loop locally (Azurite, local runner, Graph stand-in)"
	@echo "make test         lint + unit + integration + infra checks (what CI runs)"
	@echo "make lint         ruff, mypy (strict) and the import layers (import-linter)"
	@echo "make unit         the unit tests and the Bicep checks (checkov)"
	@echo "make integration  the integration tests against Azurite, the stand-ins and Chromium"
	@echo "make test-slow    the long fault runs as well"
	@echo "make bench        benchmarks into docs/performance.md figures"
	@echo "make mutate       mutation testing of the pure decision modules, a score per module (docs/mutation.md)"
	@echo "make azurite      Azurite on its default ports (UseDevelopmentStorage=true), in the foreground"
	@echo "make run          the local runner against local.settings.json (start Azurite first)"
	@echo "make console      the operations console on loopback, against local.settings.json's storage"
	@echo "make local        a practice stack on fixed ports, seeded with a tracking in every state (Ctrl-C stops)"
	@echo "make screenshots  the console's pictures in docs/, taken by its page tests"
	@echo "make venv         the .venv with graphops and its development tools (every target makes it)"
	@echo "make clean        remove the .venv, node_modules and caches"

$(BIN)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# Microsoft's Python worker library, to index function_app.py as the platform does. It declares
	# Python 3.13 but is pure Python and runs on the app's 3.11.
	$(BIN)/pip install --quiet --ignore-requires-python 'azure-functions-runtime>=1.3,<2'
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# checkov (an independent IaC scanner) has pins of its own: it lives in a virtualenv beside the project's.
.venv-checkov/.installed:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet --upgrade pip
	.venv-checkov/bin/pip install --quiet 'checkov>=3.2,<4'
	@touch $@

# The console's page tests run in Debian's Chromium (driven by Playwright, which downloads nothing).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "the console's page tests need Chromium: sudo apt-get install chromium (or set CHROMIUM=/path)"; exit 1; \
	fi

venv: $(BIN)/.installed
node: node_modules/.installed
checkov: .venv-checkov/.installed
browser: $(CHROMIUM)

demo: $(BIN)/.installed node_modules/.installed
	$(BIN)/graphops demo

run: $(BIN)/.installed node_modules/.installed
	$(BIN)/graphops run

# Where `UseDevelopmentStorage=true` looks (local.settings.example.json): data kept in .azurite/.
azurite: node_modules/.installed
	npx azurite --silent --location .azurite --skipApiVersionCheck

console: $(BIN)/.installed
	$(BIN)/graphops console

local: $(BIN)/.installed node_modules/.installed
	$(BIN)/graphops local --seed

# The console's pictures in docs/ (docs/console.md shows them), taken by its page tests.
screenshots: $(BIN)/.installed node_modules/.installed $(CHROMIUM)
	GRAPHOPS_CHROMIUM=$(CHROMIUM) GRAPHOPS_SCREENSHOTS=docs $(PYTEST) -q tests/integration/test_console_browser.py

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(BIN)/.installed .venv-checkov/.installed node_modules/.installed
	$(PYTEST) -q tests/unit

# The integration tests wait on polls and subprocesses more than they compute: three worker processes share two
# cores well, each with its own Azurite and stand-ins. Their waits scale with the machine's load (tests/patience.py).
INTEGRATION_WORKERS ?= 3
integration: $(BIN)/.installed node_modules/.installed $(CHROMIUM)
	GRAPHOPS_CHROMIUM=$(CHROMIUM) $(PYTEST) -q tests/integration -m "not slow" -n $(INTEGRATION_WORKERS) --dist worksteal

test: lint unit integration

test-slow: $(BIN)/.installed node_modules/.installed
	$(PYTEST) -q tests -m slow -n $(INTEGRATION_WORKERS) --dist worksteal

bench: $(BIN)/.installed node_modules/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/schedule.py --docs docs/performance.md
	$(BIN)/python bench/coldstart.py
	$(BIN)/python bench/throughput.py --trackings 1000 --rounds 2 --docs docs/performance.md
	$(BIN)/python bench/step_storage.py --docs docs/performance.md
	$(BIN)/python bench/telemetry.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/throttling.py --speed 8 --docs docs/performance.md
	$(BIN)/python bench/scale.py --docs docs/performance.md

# Mutation testing ([tool.mutmut] in pyproject.toml): mutmut works in its own copy of the tree, mutants/, made afresh
# each time so every score counts the tests as they are now (`mutmut browse` or `mutmut show <name>` then tell a
# survivor's change). Two workers, one per core of a small machine.
MUTATE_CHILDREN ?= 2
mutate: $(BIN)/.installed
	rm -rf mutants && mkdir mutants
	@echo "mutmut run (its progress in mutants/run.log)"
	@$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) > mutants/run.log 2>&1 || { tail -c 4000 mutants/run.log; exit 1; }
	@tail -n 1 mutants/run.log
	$(BIN)/python bench/mutation_scores.py

clean:
	rm -rf $(VENV) .venv-checkov node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants
