# The commands people run. `make run` and `make test` do all set-up themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SIM    := data/raw/simulated

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## run: the main job on the embedded default (simulate -> validate -> summarise -> features)
run: install
	$(BIN)/clout simulate --preset default --seed 7 --out $(SIM)
	$(BIN)/clout data validate $(SIM)
	$(BIN)/clout data summary $(SIM)
	$(BIN)/clout features build $(SIM) --out data/processed/features.parquet

## test: the whole test suite (real-data tests skip when ../shared/data is absent)
test: install
	$(BIN)/python -m pytest

## lint: style and import order (ruff)
lint: install
	$(BIN)/ruff check src tests benchmarks

## bench: speed and plausibility measurements that print tables (minutes, not seconds)
bench: install
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/plausibility.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/engines.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
