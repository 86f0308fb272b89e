# The two commands a fresh machine needs: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is pinned for this install path (a CPU wheel on local disk); the package accepts torch>=2.3
TORCH_PIN ?= torch==2.13.0
# errors only: a package index configured on the machine but missing a package makes pip warn once per
# dependency ("Location ... is ignored"); PIP_QUIET=-q shows warnings again
PIP_QUIET ?= -qq

.PHONY: install demo test test-fast lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install $(PIP_QUIET) --upgrade pip
	$(PY) -m pip install $(PIP_QUIET) "$(TORCH_PIN)"
	$(PY) -m pip install $(PIP_QUIET) -e ".[all,test]" "$(TORCH_PIN)"
	touch $@

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -q tests

test-fast: install
	$(PY) -m pytest -q -m "not slow" tests

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) runs/demo
