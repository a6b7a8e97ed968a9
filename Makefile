# The two set-up commands: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

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

lint: $(STAMP)
	$(BIN)/ruff check gzbcat tests scripts migrations

clean:
	rm -rf $(VENV) *.egg-info gzbcat-demo.sqlite*
