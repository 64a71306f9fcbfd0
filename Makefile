# Everything starts from nothing: `make demo` and `make test` build .venv from requirements.lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test test-fast bench clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps -r requirements.lock
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

demo: setup            ## the main job: a real Optuna+ASHA sweep on builtin digits, local Ray, sqlite MLflow
	$(BIN)/python tune_main.py sweeps/demo.yaml

test: setup            ## the whole suite, slow end-to-end tests included
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs mlflow.db ray_results
