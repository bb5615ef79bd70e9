# The two commands: `make demo` and `make test`. Both create .venv and install first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint clean

install: $(STAMP)

# Re-installs only when pyproject.toml changed (fast and idempotent otherwise).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "LeadRelay needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet --editable '.[dev]'
	@touch $(STAMP)
	@echo "installed into $(VENV)"

demo: install
	$(VENV)/bin/leadrelay demo --keep-running

# The tests start their own Redis server (and a throw-away PostgreSQL cluster when one is installed).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
