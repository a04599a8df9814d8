# The two commands a fresh machine needs (Python 3.11 + make):
#   make quickstart   - create .venv, install omnivec, train one unified model on five modalities, write a report
#   make test         - create .venv, install omnivec with dev tools, run ruff, mypy and the fast tests (not slow)
#   make test-slow    - the tests marked slow (crash-resume, torchrun, reliability, browser, the bad-input corpus,
#                       end-to-end runs); CI (.ci/run) runs `make test && make test-slow`, i.e. everything
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/quickstart
export OMNIVEC_DATA ?= $(abspath ../shared/data)

.PHONY: install quickstart test test-slow lint typecheck clean browser

$(BIN)/activate:
	$(shell command -v $(PYTHON) >/dev/null 2>&1 && echo $(PYTHON) || echo python3) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,test,metrics,export,baselines,serve,search]'
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(BIN)/omnivec quickstart --out $(OUT)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

# headless Chromium + its driver for the demo page's browser test (tests/serve/test_serve_browser.py); Debian's packages,
# installed once (skipped when chromedriver is already on PATH, or without root: the test then skips, saying why)
browser:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null; \
	  else echo "make browser: no root/apt-get; the browser test will be skipped"; fi; }

# the per-test timeout (pytest-timeout) turns a hang into a failure naming the test; --durations=20 shows where
# the time went, so a test that grows slow is seen and marked @pytest.mark.slow
test: install lint typecheck
	$(BIN)/python -m pytest -m "not slow" --durations=20 --timeout=300

test-slow: install browser
	$(BIN)/python -m pytest -m slow --durations=20 --timeout=900

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
