# tierflow: `make demo` runs the platform end to end; `make test` runs the whole suite.
# Both set up everything they need: OS packages, .venv, services and databases.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
STAMP := $(VENV)/.installed
RUN := source scripts/env.sh &&

.PHONY: help setup venv services databases demo test test-unit test-integration test-dags lint format \
        bench bench-seed bench-archive bench-warehouse bench-hot bench-cli bench-advisor clean

help:  ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $(STAMP)

venv: $(STAMP)  ## Create .venv and install the pinned dependencies

services:  ## Make sure MySQL, PostgreSQL and Redis run on 127.0.0.1
	bash scripts/services.sh

databases: venv services  ## Create the source schema, warehouse and Airflow metadata databases
	bash scripts/databases.sh

setup: databases  ## Everything `demo` and `test` need
	bash scripts/browser.sh

demo: databases  ## Seed a multi-year dataset and run the platform's DAGs once
	bash scripts/demo.sh

test: setup lint  ## Lint, then run the whole suite (unit, integration, DAG integrity, end to end)
	$(RUN) python -m pytest tests

test-unit: venv  ## Only the library's unit tests (no services)
	$(RUN) python -m pytest tests/unit

lint: venv  ## ruff lint and format check, mypy on include/, the import contracts (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy include
	PYTHONPATH=include $(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench-seed: setup  ## Seed the medium dataset and print rows/s per table
	$(RUN) python bench/bench_seed.py

bench-archive: setup  ## tierflow archive vs pt-archiver on 3M rows
	$(RUN) python bench/bench_archive.py

bench-warehouse: setup  ## Full vs incremental warehouse refresh on the medium dataset
	$(RUN) python bench/bench_warehouse.py

bench-hot: setup  ## Hot-tier lookup latency and consumer throughput
	$(RUN) python bench/bench_hot.py

bench-advisor: setup  ## Query advisor: precision/recall, rewrite speedup, run time over 10,000 entries
	$(RUN) python bench/bench_advisor.py

bench-cli: setup  ## Start-up of `tierflow --help` and `tierflow hot get customer N`
	$(RUN) python bench/bench_cli.py

bench-devices:  ## Bank-SMS parser rate (SMS/s) on the labelled corpus
	$(RUN) python bench/bench_devices.py

clean:  ## Remove generated data and the local Airflow home (keeps .venv)
	rm -rf .data .airflow dbt/target dbt/logs
