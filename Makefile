# One command runs the site, one command runs the tests; each sets itself up.
#   make serve   -> http://127.0.0.1:8000   (installs only what the site needs: no torch)
#   make test    -> lint, type-check, unit + doc + Pyodide + browser + training tests
#   make dist    -> the release build: sdists + wheels in dist/, checked, smoke-installed
# Every pip install takes its exact versions from constraints.txt (what the suite ran with).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# pip byte-compiles all it installs (~15 s of CPU for the site's packages) unless told not
# to, and Python then compiles what it imports, once. Where PYTHONDONTWRITEBYTECODE forbids
# that cache, every import would compile from source again: there pip compiles up front.
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
          $(if $(PYTHONDONTWRITEBYTECODE),,--no-compile)
# `make serve` installs the site's group only; `make test` (and `setup`) everything.
SITE_STAMP := $(VENV)/.installed-site
STAMP      := $(VENV)/.installed-all
DIST       ?= dist
SERVE_ADDR ?= 127.0.0.1:8000

# Known-harmless notices, turned off at their source: Material's banner about MkDocs 2.0
# (this site pins MkDocs 1.6), and ipykernel's "running over TCP without encryption" when
# mkdocs-jupyter executes the notebooks: scripts/jupyter/ makes nbconvert's kernels talk over
# local IPC sockets instead (added to Jupyter's config search path, the user's own kept).
export NO_MKDOCS_2_WARNING := 1
export JUPYTER_CONFIG_PATH := $(CURDIR)/scripts/jupyter$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH))

.PHONY: setup setup-site serve site test lint typecheck unit browser chromium clean pyodide \
        dist nox constraints

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "make needs Python >= 3.11 (constraints.txt locks the developer tools on 3.11; the library itself supports 3.10: pip install .)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) pip setuptools

# The site: alignment_math, the widgets and the docs group (MkDocs, Jupyter, build).
$(SITE_STAMP): pyproject.toml widgets/pyproject.toml constraints.txt | $(PY)
	$(PIP) --no-build-isolation --group docs -e . -e ./widgets
	touch $@

# Everything: + the test and release groups and the training reference (torch).
$(STAMP): pyproject.toml widgets/pyproject.toml train/pyproject.toml constraints.txt | $(PY)
	$(PIP) --no-build-isolation --group test --group docs --group release \
	  -e . -e ./widgets -e "./train[hf]"
	touch $@ $(SITE_STAMP)

setup: $(STAMP)
setup-site: $(SITE_STAMP)

# npm packages vendored into the site (pyodide, uplot, katex), reinstalled when the lock changes.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# Self-hosted Pyodide 0.27.7 + numpy + our wheels, verified against the official lock.
pyodide: $(SITE_STAMP) $(NODE_STAMP)
	$(PY) scripts/build_pyodide.py --out .cache/pyodide

lint: setup
	$(VENV)/bin/ruff check src train widgets tests scripts noxfile.py
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

# The site: self-hosted Pyodide + our wheels, then MkDocs (strict), into site/.
site: pyodide
	$(VENV)/bin/mkdocs build --strict

# `mkdocs serve` builds the site itself (once), then rebuilds on every edit.
serve: pyodide
	@echo "make serve: building the site, then serving it at http://$(SERVE_ADDR)/ (Ctrl+C stops)"
	$(VENV)/bin/mkdocs serve --dev-addr $(SERVE_ADDR)

# The release build, locally: what .github/workflows/release.yml does before publishing.
# sdist + wheel of each distribution, `twine check --strict`, then scripts/check_dist.py:
# contents and metadata of each, one version across them, and each wheel installed into a
# fresh virtualenv (from dist/ and the package index) and imported there.
dist: setup
	rm -rf $(DIST)
	for project in . train widgets; do \
	  $(PY) -m build --no-isolation --outdir $(DIST) $$project || exit 1; done
	$(VENV)/bin/twine check --strict $(DIST)/*
	$(PY) scripts/check_dist.py $(DIST) --install --constraints constraints.txt

# alignment_math's unit and doc tests against its built wheel on every Python 3.10-3.13
# found (pyenv or PATH) x the oldest and newest NumPy each supports (see noxfile.py).
nox: setup
	$(VENV)/bin/nox

# Re-lock the developer tools after an upgrade in .venv.
constraints: setup
	{ sed -n '/^#/p' constraints.txt; \
	  echo "pip==$$($(PY) -m pip --version | cut -d' ' -f2)"; \
	  echo "setuptools==$$($(PY) -c 'import setuptools; print(setuptools.__version__)')"; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^#' | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; \
	} > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) site $(DIST) .nox .pytest_cache .mypy_cache .ruff_cache
