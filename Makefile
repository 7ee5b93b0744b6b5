# The two commands a new user runs: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Tests that need PostgreSQL run only when DATABASE_URL points at it.
PG_SELECTED := $(if $(filter postgres%,$(DATABASE_URL)),,and not postgres)
PYTEST_ARGS ?=

.PHONY: run test demo lint check test-browser test-reliability bench bench-smoke serve clean

# Reinstall only when a requirements file changed, so a second `make run` starts fast.
$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --disable-pip-version-check --upgrade pip
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime
	$(PY) scripts/run.py

demo: $(VENV)/.runtime
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --no-input -v0
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo

test: $(VENV)/.dev
	$(VENV)/bin/pytest -m "not browser and not reliability $(PG_SELECTED)" $(PYTEST_ARGS)

test-browser: $(VENV)/.dev
	$(VENV)/bin/pytest -m browser $(PYTEST_ARGS)

# Crash, restart and load scenarios on a private PostgreSQL and Redis (docs/deploy.md).
test-reliability: $(VENV)/.dev
	PYTEST=$(VENV)/bin/pytest scripts/reliability.sh $(PYTEST_ARGS)

# Production-like: gunicorn and a qcluster against PostgreSQL (and Redis), DEBUG off.
serve: $(VENV)/.runtime
	VENV=$(VENV) scripts/serve.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	DEBUG=1 $(VENV)/bin/mypy .
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run

BENCH_ARGS ?=
# Benchmarks on PostgreSQL from DATABASE_URL (a database of the bench's own; docs/benchmarks.md).
bench: $(VENV)/.dev
	$(PY) -m bench $(BENCH_ARGS)

# Tiny sizes, seconds: keeps the harness working in CI; asserts no timing.
bench-smoke: $(VENV)/.dev
	$(PY) -m bench --smoke $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis
