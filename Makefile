# Two commands do all set-up: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM := 4

.PHONY: install system-deps lint test demo ui bench clean

# Debian packages the DS lab needs (a private smbd per simulated host, smbclient for tests),
# the browser the UI tests drive (tests/browser: Playwright launches /usr/bin/chromium),
# and the CeleryExecutor test's broker and metadata database (redis-server, postgresql: the
# test runs its own instances on free ports; Debian keeps initdb in /usr/lib/postgresql/*/bin).
system-deps:
	@if ! command -v smbd >/dev/null || ! command -v smbclient >/dev/null; then \
	  echo "installing samba and smbclient with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba smbclient; \
	fi
	@if ! [ -x /usr/bin/chromium ]; then \
	  echo "installing chromium with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi
	@if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "installing redis-server and postgresql with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql; \
	fi

# requirements.txt: what production needs; requirements-dev.txt: tests, lint and the DS lab.
# The project itself is installed editable, so `ds-replication` runs the code in plugins/.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt -r requirements-dev.txt -e .
	touch $(STAMP)

# Byte-compile what is installed: uv does not, and where PYTHONDONTWRITEBYTECODE is set (or the
# venv is read-only) every process would otherwise compile Airflow from source again, some 3 s
# of CPU per process, and the tests start hundreds of them (a DAG run, a task, a CLI call).
BYTECODE := $(VENV)/.bytecode
$(BYTECODE): $(STAMP)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib >/dev/null
	touch $(BYTECODE)

install: $(STAMP) $(BYTECODE) system-deps

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=plugins $(BIN)/python -m ds_replication.templates build/sql >/dev/null
	$(BIN)/sqlfluff lint build/sql

# pytest-xdist workers: the tests wait on servers much of the time, so more workers than cores
# pay; the summary's "work units by xdist worker" shows the tail (`make test TEST_WORKERS=4`).
TEST_WORKERS ?= 3
test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --durations=15

demo: install
	$(BIN)/python -m tests.demo $(DEMO_ARGS)

# The Airflow UI on a seeded DS lab, on free ports; Ctrl-C stops it all (tests/ui.py).
ui: install
	$(BIN)/python -m tests.ui $(UI_ARGS)

bench: install
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build test-artifacts plugins/ds_replication.egg-info
