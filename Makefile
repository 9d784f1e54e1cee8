# Everything sets itself up from a fresh clone: a virtualenv from requirements.lock and the
# contracts' npm packages from contracts/package-lock.json.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/icr-bridge
PY_STAMP := $(VENV)/.installed
NODE_STAMP := contracts/node_modules/.installed

.PHONY: setup demo test serve contracts lock bench clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(NODE_STAMP): contracts/package.json contracts/package-lock.json
	# `npm ci` rejects this lock: npm 11 leaves anvil's other-platform binaries out of it.
	# Every version is pinned in package.json and the lock, and --no-save keeps both as they are.
	cd contracts && npm install --no-save --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(CLI) demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

serve: setup
	$(CLI) serve

contracts: setup
	$(CLI) contracts build

lock: $(PY_STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^icr-bridge' > requirements.lock.new
	{ echo '# Full pinned dependency tree (pip freeze of a working environment, Python 3.11).'; \
	  echo '# Regenerate with `make lock` after changing pyproject.toml.'; cat requirements.lock.new; } > requirements.lock
	rm requirements.lock.new

clean:
	rm -rf $(VENV) contracts/node_modules icr-bridge.sqlite
