# Two commands do all set-up: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM := 4

.PHONY: install system-deps lint test demo bench clean

# Debian packages the DS lab needs (a private smbd per simulated host, smbclient for tests).
system-deps:
	@if ! command -v smbd >/dev/null || ! command -v smbclient >/dev/null; then \
	  echo "installing samba and smbclient with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samba smbclient; \
	fi

# requirements.txt: what production needs; requirements-dev.txt: tests, lint and the DS lab.
# The project itself is installed editable, so `ds-replication` runs the code in plugins/.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.9
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt -r requirements-dev.txt -e .
	touch $(STAMP)

install: $(STAMP) system-deps

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=plugins $(BIN)/python -m ds_replication.templates build/sql >/dev/null
	$(BIN)/sqlfluff lint build/sql

test: lint
	$(BIN)/python -m pytest -n 3 --dist loadscope --durations=15

demo: install
	$(BIN)/python -m tests.demo $(DEMO_ARGS)

bench: install
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build plugins/ds_replication.egg-info
