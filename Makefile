# The two commands a fresh machine needs (Python 3.11 + make):
#   make quickstart   - create .venv, install omnivec, train one unified model on five modalities, write a report
#   make test         - create .venv, install omnivec with dev tools, run ruff, mypy and the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/quickstart
export OMNIVEC_DATA ?= $(abspath ../shared/data)

.PHONY: install quickstart test lint typecheck clean

$(BIN)/activate:
	$(shell command -v $(PYTHON) >/dev/null 2>&1 && echo $(PYTHON) || echo python3) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,test,metrics,export,baselines]'
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(BIN)/omnivec quickstart --out $(OUT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
