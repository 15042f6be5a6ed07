# The commands people run. `make run` and `make test` do all set-up themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Exact versions and hashes of every dependency (pyproject.toml keeps the ranges): the same
# libraries on every machine, so the same numbers. `make lock` refreshes it.
LOCK   := requirements.lock

.PHONY: install lock run ui lab test lint bench quality gaming clean

$(STAMP): $(LOCK) pyproject.toml
	@echo "set-up (once): $(VENV) with the $$(grep -c '==' $(LOCK)) pinned packages of $(LOCK), then clout"
	$(PYTHON) -m venv $(VENV)
	@echo "installing: under a minute from pip's cache, longer when downloading"
	@# --no-compile: Python compiles a module when it is first imported (a fraction of a
	@# second for what clout imports) instead of pip compiling all 200 packages (45 s)
	@start=$$(date +%s); (while sleep 5; do echo "  ... $$(( $$(date +%s) - start )) s"; done) & \
	    beat=$$!; $(BIN)/python -m pip install --quiet --no-compile --require-hashes --no-deps \
	    -r $(LOCK); \
	    status=$$?; kill $$beat; [ $$status -eq 0 ] && echo "installed in $$(( $$(date +%s) - start )) s"; \
	    exit $$status
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

## lock: re-resolve pyproject.toml's ranges to the newest versions, with hashes
lock: install
	$(BIN)/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
	    --no-emit-index-url --no-emit-find-links --extra dev --extra bench --all-build-deps \
	    --output-file $(LOCK) pyproject.toml

## run: the main job on the embedded default: the default experiment end to end (simulated
## world -> features -> heads -> calibration -> score -> evaluation, one MLflow run in
## mlflow.db), then today's scores for every account
run: install
	$(BIN)/clout train experiments/default.yaml
	$(BIN)/clout score experiments/default.yaml

## ui: the MLflow UI on the runs in mlflow.db (http://127.0.0.1:5000)
ui: install
	@echo "runs: http://127.0.0.1:5000/#/experiments (clout runs lists them here)"
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

## quality: docs/quality.md and the README's quoted headlines, from clout evaluate: the default
## experiment, its empirical-Bayes and its tuned variant (clout tune) on four worlds, Congress
## on six rolling test cutoffs, Higgs on two daily ones (minutes; needs ../shared/data)
quality: install
	$(BIN)/clout evaluate experiments/default.yaml --seeds 7,8,9,4242 --gaming --attacks noise \
	    --doc docs/quality.md --readme README.md
	$(BIN)/clout evaluate experiments/empirical-bayes.yaml --seeds 7,8,9,4242 \
	    --doc docs/quality.md --readme README.md
	$(BIN)/clout evaluate experiments/default-tuned.yaml --seeds 7,8,9,4242 \
	    --doc docs/quality.md --readme README.md
	$(BIN)/clout evaluate experiments/congress.yaml --rolling 6 --doc docs/quality.md \
	    --readme README.md
	$(BIN)/clout evaluate experiments/higgs.yaml --rolling 2 --doc docs/quality.md \
	    --readme README.md

## gaming: docs/gaming.md, what every attack of the attack library buys on three default worlds
## (benchmarks/gaming.py: the models trained as clout train trains them; minutes)
gaming: install
	$(BIN)/python benchmarks/gaming.py --seeds 7 8 9 --jobs 3 --doc docs/gaming.md

## bench: speed and plausibility measurements that print tables (minutes, not seconds)
bench: install
	$(BIN)/python benchmarks/simulate.py
	$(BIN)/python benchmarks/plausibility.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/engines.py
	$(BIN)/python benchmarks/models.py
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/congress_ceiling.py
	$(BIN)/python benchmarks/truth_ceiling.py
	$(BIN)/python benchmarks/scale.py
	$(BIN)/python benchmarks/reproducibility.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
