# autolog: `make demo` sets everything up and shows what gets recorded; `make test` checks it all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXTRAS := cli,postgres,sklearn,lightgbm,xgboost-cpu,torch,lightning,transformers,optuna,server,s3,system
# the test and lint tools: pyproject.toml's [dependency-groups] dev (pip >= 25.1 reads it)
GROUPS := --group dev

.PHONY: demo test test-fast lint types pytest bench clean browser screenshots vendor-uplot
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
UPLOT_VERSION ?= 1.6.32

$(STAMP): pyproject.toml setup.py requirements/dev-constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/dev-constraints.txt -e ".[$(EXTRAS)]" $(GROUPS)
	touch $(STAMP)

demo: $(STAMP)
	cd examples && rm -rf autolog-runs && ../$(BIN)/python quickstart.py
	cd examples && ../$(BIN)/python sklearn_quickstart.py
	cd examples && ../$(BIN)/python lightgbm_train.py
	cd examples && ../$(BIN)/python torch_plain_loop.py
	cd examples && ../$(BIN)/python sweep.py
	@echo 'The runs recorded above, in examples/autolog-runs (browse them: cd examples && ../$(BIN)/autolog ui):'
	cd examples && ../$(BIN)/autolog runs ls

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy strict over autolog/ and integrations/ under the names they are installed as
# (integrations/ is autolog.integrations): tests/typecheck.py tells mypy each file's module name.
types: $(STAMP)
	$(BIN)/python tests/typecheck.py

pytest: $(STAMP) browser
	$(BIN)/pytest -W error

# Debian's Chromium for the web UI's browser tests (never `playwright install`): installed here
# where apt-get exists; where it does not, those tests skip.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# PNGs of every page of the web UI, from the demo runs, into docs/images/ (the README shows them)
screenshots: demo browser
	$(BIN)/python docs/screenshots.py

# Maintainers only (needs npm): refresh the vendored uPlot, e.g. make vendor-uplot UPLOT_VERSION=1.6.32
vendor-uplot:
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && \
		tar xzf uplot-*.tgz && cp package/dist/uPlot.esm.js package/dist/uPlot.min.css \
		package/LICENSE package/package.json $(CURDIR)/autolog/server/static/vendor/uplot/ && \
		rm -rf $$tmp

test: lint types pytest

# The quick loop while working: lint and the tests that need no PostgreSQL, no server process and
# no browser (tests/conftest.py marks those from the fixtures they use), less those marked slow
# (fresh interpreters, worker processes, multi-second faults). `make test` runs it all.
FAST_TESTS := not postgres and not server and not browser and not slow
test-fast: lint
	$(BIN)/pytest -W error -q -m "$(FAST_TESTS)"

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) examples/autolog-runs .mypy_cache .ruff_cache .pytest_cache
