# ai_architect — run `make demo` to see it, `make test` to test it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# PostgreSQL major version: PG=15 (Debian's packages, the default), PG=17 or PG=18 (built
# from source into .cache/); or PG_CONFIG=/path/to/pg_config for your own server
export PG PG_CONFIG

.PHONY: help setup install start stop clean-data demo test test-all test-cold bench psql fuzz

help:
	@echo "make demo        set everything up, start ./.pgdata on port 28815, run demo/showcase.sql"
	@echo "make test        set up, then every test layer (unit, pgrx, regress, integration, mcp)"
	@echo "make test PG=17  the same on PostgreSQL 17 (or PG=18), built into .cache/ once"
	@echo "make test-all    make test on 15, then on 17 and 18 (what CI runs)"
	@echo "make bench       run the benchmarks, results in bench/results/"
	@echo "make fuzz        the guard's differential fuzz test at full size (100,000 SQL texts)"
	@echo "make stop        stop the local cluster;  make clean-data  remove it"
	@echo "make psql        connect to the demo database"

setup:
	@bash scripts/setup.sh

install: setup
	@bash scripts/install.sh

start: install
	@bash scripts/cluster.sh start

demo: start
	@bash scripts/demo.sh

# setup is the first timed step of scripts/test.sh
test:
	@bash scripts/test.sh

# every version, even after one failed; fails if any did; a table of the three at the end
test-all:
	@t=$$(mktemp); start=$$(date +%s); rc=0; \
	for v in 15 17 18; do AI_TEST_TOTALS=$$t $(MAKE) --no-print-directory test PG=$$v || rc=1; done; \
	echo; echo "============ make test-all ============"; cat $$t; \
	echo "all three: $$(( $$(date +%s) - start ))s"; rm -f $$t; exit $$rc

# the fresh-machine path: setup and the unit and pgrx layers with an empty shared cache (run on
# every release; the shared cache only accelerates, it is never needed)
test-cold:
	@bash scripts/test-cold.sh

fuzz: start
	@bash scripts/fuzz.sh

bench: start
	@bash bench/run.sh

stop:
	@bash scripts/cluster.sh stop

clean-data:
	@bash scripts/cluster.sh clean

psql:
	@bash scripts/cluster.sh psql
