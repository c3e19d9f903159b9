PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TESTSTAMP := $(VENV)/.installed-test
MUTATESTAMP := $(VENV)/.installed-mutate

.PHONY: run test bench install migrate clean mutate

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TESTSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@ $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/unionbot db upgrade

run: $(STAMP)
	$(BIN)/unionbot db upgrade
	$(BIN)/unionbot serve

test: $(TESTSTAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

$(MUTATESTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,bench,mutate]'
	touch $@ $(TESTSTAMP) $(STAMP)

# Mutation testing (mutation/README.md): every group, or one with GROUP=codec; BUDGET=seconds per group.
mutate: $(MUTATESTAMP)
	$(BIN)/python mutation/run.py run $(GROUP) $(if $(BUDGET),--budget $(BUDGET))

bench: $(TESTSTAMP)
	$(BIN)/python -m bench $(BENCH)

clean:
	rm -rf $(VENV) data/*.db*
