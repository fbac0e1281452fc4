# One command runs the site, one command runs the tests; each sets itself up.
#   make serve   -> http://127.0.0.1:8000
#   make test    -> lint, type-check, unit + doc + browser + training tests
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Extras installed into the virtualenv; `make site EXTRAS=test,docs` skips torch.
EXTRAS ?= test,docs,train

.PHONY: setup serve site test lint typecheck unit browser chromium clean pyodide

$(STAMP): pyproject.toml widgets/pyproject.toml train/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]" -e ./widgets \
	  $(if $(findstring train,$(EXTRAS)),-e "./train[hf]")
	touch $(STAMP)

setup: $(STAMP)

# npm packages vendored into the site (pyodide, uplot, katex), reinstalled when the lock changes.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# Self-hosted Pyodide 0.27.7 + numpy + our wheels, verified against the official lock.
pyodide: setup $(NODE_STAMP)
	$(PY) scripts/build_pyodide.py --out .cache/pyodide

lint: setup
	$(VENV)/bin/ruff check src train widgets tests scripts
	$(PY) scripts/lint_fences.py docs README.md

typecheck: setup
	$(VENV)/bin/mypy src/alignment_math

unit: setup pyodide
	$(PY) -m pytest --ignore=tests/browser

# Headless Chromium for the browser tests: Debian's package (Playwright cannot download one here).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# Every widget on every built page, in headless Chromium, against CPython.
browser: site chromium
	ALIGNMENT_BROWSER=1 $(PY) -m pytest tests/browser

test: lint typecheck unit browser

# The site: self-hosted Pyodide + our wheels, then MkDocs (strict).
site: setup pyodide
	$(VENV)/bin/mkdocs build --strict

serve: site
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8000

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
