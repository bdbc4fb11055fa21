# Two entry points for a newcomer: `make build` and `make test`. Both create the virtual
# environment .venv from requirements.lock when it is missing or out of date.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DBT_PROFILES_DIR := $(CURDIR)/profiles
export DBT_PROJECT_DIR := $(CURDIR)
export DUCKDB_PATH ?= warehouse/dev.duckdb

.PHONY: venv build test engines engines-compare docs dashboard dashboard-screenshot dagster dagster-screenshot validate lint fix refresh seeds lock clean

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed
	@mkdir -p $(dir $(DUCKDB_PATH))

## build: load the seeds and build every model, running its tests (dev target, DuckDB file)
build: venv
	$(BIN)/dbt build

## test: every gate, in order: dbt parse, sqlfluff, dbt build (unit + data tests), MetricFlow
## validate-configs, source freshness, dbt-score, Great Expectations, the docs site (which
## also compiles the analyses), pytest (with headless Chromium), then `engines-compare`
test: venv
	$(BIN)/dbt parse
	$(BIN)/sqlfluff lint models analyses --processes 2 -v
	$(BIN)/dbt build
	$(BIN)/mf validate-configs
	$(BIN)/dbt source freshness
	$(BIN)/dbt-score lint --show failing-items
	$(BIN)/nps-warehouse validate
	$(BIN)/dbt docs generate --static
	scripts/browser-up
	$(BIN)/python -m pytest -v --durations=10 --numprocesses 2
	$(MAKE) engines-compare

## engines: the demo data built on PostgreSQL and on Spark with every unit and data test, each
## mart compared with DuckDB's (installs Java 17 and PostgreSQL 15 when missing: needs root)
engines: venv
	$(BIN)/dbt build --full-refresh
	$(MAKE) engines-compare

## engines-compare: `engines` on the DuckDB warehouse as built (make test built it, and its
## tests only read it or copies of it)
engines-compare: venv
	scripts/engines-up
	$(BIN)/dbt build --full-refresh --target postgres
	mkdir -p $${SPARK_DIR:-warehouse/spark}  # Derby writes its log there when Spark starts
	$(BIN)/dbt build --full-refresh --target spark
	$(BIN)/nps-warehouse compare-engines --engine postgres --engine spark

## docs: dbt's documentation site as one static page, target/static_index.html (needs a build)
docs: venv
	$(BIN)/dbt docs generate --static

## dashboard: render target/dashboard.html from the warehouse ($(DUCKDB_PATH)); opens offline in any browser
dashboard: venv
	$(BIN)/nps-warehouse dashboard

## dashboard-screenshot: remake docs/dashboard.png from the demo warehouse (installs Debian's chromium when missing: needs root)
dashboard-screenshot: build
	scripts/browser-up
	$(BIN)/nps-warehouse dashboard --screenshot docs/dashboard.png

## dagster: the Dagster UI and daemon on http://127.0.0.1:3000: the refresh as assets, its sensor on
## warehouse/incoming and its schedules (instance in warehouse/dagster, settings from dagster.yaml)
dagster: venv
	mkdir -p warehouse/dagster warehouse/incoming
	cp dagster.yaml warehouse/dagster/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/warehouse/dagster $(BIN)/dagster dev -m nps_warehouse.orchestration -h 127.0.0.1 -p 3000

## dagster-screenshot: remake docs/dagster.png (the asset graph) with the UI test (needs root for chromium)
dagster-screenshot: venv
	scripts/browser-up
	NPS_DAGSTER_SCREENSHOT=$(CURDIR)/docs/dagster.png $(BIN)/python -m pytest -q pytests/test_orchestration.py -k ui

## validate: the Great Expectations suites on the dev warehouse (Data Docs under target/gx)
validate: venv
	$(BIN)/nps-warehouse validate

## lint: sqlfluff (dbt templater, duckdb dialect) on every model and analysis
lint: venv
	$(BIN)/sqlfluff lint models analyses --processes 2 -v

## fix: let sqlfluff fix what it can
fix: venv
	$(BIN)/sqlfluff fix models analyses --processes 2

## refresh: build, audit and publish warehouse/analytics.duckdb (NEW_DATA=folder of raw files)
refresh: venv
	$(BIN)/nps-warehouse refresh $(if $(NEW_DATA),--new-data $(NEW_DATA))

## seeds: regenerate the committed demo seeds with the deterministic generator
seeds: venv
	$(BIN)/nps-warehouse generate --out seeds

## lock: re-resolve requirements.txt into requirements.lock in a scratch environment
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	.lock-venv/bin/pip freeze --all --exclude pip > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf target logs warehouse/*.duckdb warehouse/*.wal warehouse/spark
