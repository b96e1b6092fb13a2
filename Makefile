# svetlana_nb: everything runs from a local virtualenv in .venv; only `python3` is needed.
#
#   make lab     install (once) and open notebooks/quickstart.ipynb in JupyterLab
#   make test    install (once), get Chromium if possible, run the whole test suite
#   make bench   run the benchmarks
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

.PHONY: lab test bench chromium install-test install-lab

lab: $(VENV)/.installed-lab
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb

test: $(VENV)/.installed-test chromium
	@# pytest exits 5 when it collected no test: say so instead of failing obscurely.
	@$(PY) -m pytest -q -ra $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)" >&2; exit 0; fi; exit $$rc

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run_all.py

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
