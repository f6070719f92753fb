# ai_architect — run `make demo` to see it, `make test` to test it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PSQL_CMD := psql -h $(CURDIR)/.pgdata -p 28815 -U postgres chinook

.PHONY: help setup install start stop clean-data demo test bench psql fuzz

help:
	@echo "make demo        set everything up, start ./.pgdata on port 28815, run demo/showcase.sql"
	@echo "make test        set up, then every test layer (unit, pgrx, regress, integration)"
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

test: setup
	@bash scripts/test.sh

fuzz: start
	@bash scripts/fuzz.sh

bench: start
	@bash bench/run.sh

stop:
	@bash scripts/cluster.sh stop

clean-data:
	@bash scripts/cluster.sh clean

psql:
	@$(PSQL_CMD)
