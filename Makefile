# svetlana_nb: everything runs from a local virtualenv in .venv; only `python3` is needed.
#
#   make lab        install (once) and open notebooks/quickstart.ipynb in JupyterLab
#   make test       install (once), get Chromium if possible, run the checks and the whole test suite (CI)
#   make test-fast  engine and widget tests only: no browser, notebooks or benchmarks (under a minute)
#   make lint       ruff (lint and format), mypy, import contracts
#   make format     apply ruff's formatting and fixes
#   make notebooks  rebuild notebooks/*.ipynb from their sources in notebooks/src/
#   make bench      run the benchmarks; make bench-docs also rewrites docs/benchmarks.md
#
# torch is installed first and pinned, so that pip does not pull a multi-GB CUDA build to satisfy
# `torch>=2.1`. On a machine whose pip finds only CUDA builds, point pip at a CPU wheel index
# with TORCH_PIP_ARGS="--index-url <CPU wheel index>".
# Installs are remembered by stamp files in .venv and redone when pyproject.toml changes.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
PYTEST_ARGS ?=
CHROMIUM := /usr/bin/chromium

#: What the linters look at.
SOURCES := svetlana_nb tests benchmarks notebooks

.PHONY: lab test test-fast lint format notebooks bench bench-docs chromium install-test install-lab

lab: $(VENV)/.installed-lab
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb

test: $(VENV)/.installed-test chromium lint
	@# pytest exits 5 when it collected no test: say so plainly (it is a failure).
	@$(PY) -m pytest -q -ra $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; fi; exit $$rc

test-fast: $(VENV)/.installed-test
	$(PY) -m pytest -q -ra -m "not browser and not notebook and not slow" \
		--ignore=tests/browser --ignore=tests/notebooks --ignore=tests/benchmarks $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check $(SOURCES)
	$(VENV)/bin/ruff format --check $(SOURCES)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format $(SOURCES)
	$(VENV)/bin/ruff check --fix $(SOURCES)

notebooks: $(VENV)/.installed-test
	$(PY) notebooks/build.py

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks.run_all

bench-docs: $(VENV)/.installed-test
	$(PY) -m benchmarks.run_all --write docs/benchmarks.md

install-test: $(VENV)/.installed-test
install-lab: $(VENV)/.installed-lab

$(PY):
	$(PYTHON) -m venv $(VENV)

# pip warns once per package about missing local index folders on some machines: hide that.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }

# torch first (pinned, and only when missing), then the package with its extras.
$(VENV)/.installed-%: pyproject.toml | $(PY)
	@set -o pipefail; $(PY) -c "import importlib.metadata as m; m.version('torch')" 2>/dev/null \
		|| { echo "installing $(TORCH_SPEC)"; \
		     $(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)" $(QUIET_PIP); }
	@echo "installing svetlana_nb[$*] (editable)"
	@set -o pipefail; $(PIP) install -q -e ".[$*]" $(QUIET_PIP)
	@touch $@

# Debian's Chromium for the real-browser tests. Without it they are skipped, with the reason.
chromium:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "NOTE: no $(CHROMIUM) and not root with apt-get: browser tests will be skipped"; \
		exit 0; fi; \
	echo "installing chromium (apt-get)"; log=$$(mktemp); \
	if (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) \
		>"$$log" 2>&1 </dev/null; then echo "chromium installed"; \
	else tail -n 20 "$$log"; echo "WARNING: chromium install failed: browser tests will be skipped"; fi; \
	rm -f "$$log"
