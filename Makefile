# The commands people run. `make run` and `make test` do all set-up themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run ui lab test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## run: the main job on the embedded default: the default experiment end to end (simulated
## world -> features -> heads -> calibration -> score -> evaluation, one MLflow run in
## mlflow.db), then today's scores for every account
run: install
	$(BIN)/clout train experiments/default.yaml
	$(BIN)/clout score experiments/default.yaml

## ui: the MLflow UI on the runs in mlflow.db (http://127.0.0.1:5000)
ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

## lab: JupyterLab on the numbered notebooks (notebooks/README.md)
lab: install
	$(BIN)/jupyter lab notebooks/

## test: the whole test suite and the notebooks (real-data tests skip when ../shared/data is absent)
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
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/congress_ceiling.py
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
