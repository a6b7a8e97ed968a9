# The two set-up commands: `make demo` and `make test`. Each creates .venv if missing.
# `make cluster-test` runs tests/cluster/ on a throw-away Slurm cluster (as root; see below).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test cluster-test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,plot]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gzbcat demo

test: $(STAMP)
	$(BIN)/ruff check gzbcat tests scripts migrations
	$(BIN)/python -m pytest -q

# Installs Debian's slurm-wlm and munge when missing, starts munged, slurmctld and slurmd on
# this machine with a configuration in a temporary folder, runs tests/cluster/ against
# PostgreSQL ($$GZBCAT_TEST_POSTGRES_URL), stops the daemons (also when tests fail), and prints
# the wall time. Needs root. scripts/slurm/local_cluster.sh says how.
cluster-test: $(STAMP)
	scripts/slurm/local_cluster.sh run $(BIN)/python -m pytest -q -p no:cacheprovider tests/cluster

lint: $(STAMP)
	$(BIN)/ruff check gzbcat tests scripts migrations

clean:
	rm -rf $(VENV) *.egg-info gzbcat-demo.sqlite*
