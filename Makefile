# autolog: `make demo` sets everything up and shows what gets recorded; `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := dev,sklearn,lightgbm,xgboost-cpu,torch,lightning,server,s3

.PHONY: demo test lint types pytest bench clean

$(STAMP): pyproject.toml requirements/dev-constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/dev-constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	cd examples && rm -rf autolog-runs && ../$(BIN)/python quickstart.py
	cd examples && ../$(BIN)/python sklearn_quickstart.py
	cd examples && ../$(BIN)/python lightgbm_train.py
	cd examples && ../$(BIN)/python torch_plain_loop.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy reads modules from folders; this tree shows it autolog/ with integrations/ inside, as
# installed (setuptools package-dir), without a symlink in the repository.
types: $(STAMP)
	rm -rf .mypy-tree && mkdir -p .mypy-tree/autolog
	for entry in autolog/*; do ln -s "$$PWD/$$entry" .mypy-tree/autolog/; done
	ln -s "$$PWD/integrations" .mypy-tree/autolog/integrations
	$(BIN)/mypy .mypy-tree/autolog

pytest: $(STAMP)
	$(BIN)/pytest -W error

test: lint types pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) examples/autolog-runs .mypy_cache .ruff_cache .pytest_cache
