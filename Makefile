# Two commands do all set-up on a fresh machine: `make test` and `make drill`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
VAR ?= var
STORE ?= file://$(abspath $(VAR))/store
MODEL ?= recommender
# Every drill's journals and figures are kept here for the report's trends; the drill
# also regenerates the docs' screenshot of the report's first screen (when chromium is here).
HISTORY ?= $(VAR)/history
DRILL_PNG ?= docs/drill-report.png
# Extra drill flags, e.g. DRILL_ARGS=--env-arg=--reschedule-delay=8 (a deliberately slowed run).
DRILL_ARGS ?=

.PHONY: venv test lint drill train sensitivity bench clean

venv: $(STAMP)

# pip byte-compiles on one core (110 s here); compileall does the same on every core.
# Byte-compiled files are needed: this machine sets PYTHONDONTWRITEBYTECODE, so without
# them every process compiles torch again (the unit tests took 354 s instead of 222 s).
# A file compileall cannot compile (a third-party test fixture) is skipped, as pip does.
$(STAMP): requirements.txt pyproject.toml extension/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m compileall -q -j 0 $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))') > /dev/null || true
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --editable . --editable extension
	$(PY) -m pip check
	touch $(STAMP)

# Unit tests on four workers: many wait on subprocesses, servers and sleeps, so two
# workers left the cores idle (3 min 51 s in CI; four: 3 min 19 s, 1.9 cores busy).
# Then the integration tests (real processes held to SLO timings): the whole catalog run
# with the real chaos CLI alone, since its p99 windows are what CPU contention spoils;
# the rest on both cores, one test file per worker.
CATALOG_TESTS := tests/experiments/test_catalog_integration.py
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not integration" -n 4 --durations=10
	$(PY) -m pytest -m integration $(CATALOG_TESTS) --durations=5
	$(PY) -m pytest -m integration -n 2 --dist loadfile --ignore=$(CATALOG_TESTS) --durations=20

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

train: $(STAMP)
	$(PY) -m training train --store $(STORE) --model $(MODEL) --if-no-stable

drill: $(STAMP)
	DRILL_HISTORY=$(HISTORY) DRILL_SCREENSHOT=$(DRILL_PNG) \
		$(PY) -m experiments.drill --store $(STORE) --model $(MODEL) --out $(VAR)/drill $(DRILL_ARGS)

# SENSITIVITY_ARGS=--load-rps N holds every weakened drill at the healthy drill's load.
# Each resilience mechanism switched off in turn: which experiments catch it (slow: ~20 min).
sensitivity: $(STAMP) train
	$(PY) -m experiments sensitivity --store $(STORE) --model $(MODEL) --out $(VAR)/sensitivity $(SENSITIVITY_ARGS)

clean:
	rm -rf $(VAR)
