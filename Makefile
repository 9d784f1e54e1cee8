# Everything sets itself up from a fresh clone: a virtualenv from requirements.lock and the
# contracts' npm packages from contracts/package-lock.json.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/icr-bridge
PY_STAMP := $(VENV)/.installed
NODE_STAMP := contracts/node_modules/.installed
SLITHER_VENV := .venv-slither
SLITHER_STAMP := $(SLITHER_VENV)/.installed

.PHONY: setup browser lint demo test fuzz serve contracts lock bench bench-full test-counts clean analyze \
	forge-test fuzz-contracts mutation-contracts

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

# Debian's chromium and chromedriver for the page tests (tests marked `browser`), from apt: never
# a browser download. Idempotent; without root (and no password-less sudo) it says so and the
# browser tests skip, except under CI where they fail.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium and chromium-driver (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  echo "installing chromium and chromium-driver (sudo apt)"; \
	  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium is missing and apt needs root: run 'sudo apt-get install chromium chromium-driver' (browser tests skip)"; fi

# After the suite, the failing examples `make fuzz` saved in tests/regressions/hypothesis (committed)
# are replayed, and only those (HYPOTHESIS_PROFILE=regressions generates nothing new).
test: setup browser lint forge-test
	$(PY) -m pytest $(PYTEST_ARGS)
	if [ -n "$$(ls -A tests/regressions/hypothesis 2>/dev/null)" ]; then \
	  HYPOTHESIS_PROFILE=regressions $(PY) -m pytest -m hypothesis -q $(PYTEST_ARGS); fi

# The Foundry suite of the token (contracts/test/*.t.sol, contracts/foundry.toml): fuzz, invariant
# and differential tests with a fixed seed and CI-sized run counts. The harness that exposes the
# token's private functions is generated from contracts/src/ICCToken.sol before every run.
# forge is the platform binary npm installed: the `node_modules/.bin/forge` wrapper exits 0 even
# when tests fail.
FORGE := ls node_modules/@foundry-rs/forge-*/bin/forge | head -n1
forge-test: setup
	$(PY) scripts/forge_harness.py
	cd contracts && forge=$$($(FORGE)) && $$forge test $(FORGE_ARGS)

# Mutation testing of the token's hand-written mint paths (on demand, not in `make test`): each
# mutant listed in scripts/mutate_contracts.py must make the Foundry suite fail.
mutation-contracts: setup
	$(PY) scripts/mutate_contracts.py

# Long Foundry runs (profile "long": many more runs and deeper invariant sequences) with a new
# seed each time; it is printed, and FOUNDRY_FUZZ_SEED=<seed> replays a run.
fuzz-contracts: setup
	$(PY) scripts/forge_harness.py
	seed=$${FOUNDRY_FUZZ_SEED:-0x$$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')}; echo "fuzz seed $$seed"; \
	  cd contracts && forge=$$($(FORGE)) && FOUNDRY_PROFILE=long FOUNDRY_FUZZ_SEED=$$seed $$forge test $(FORGE_ARGS)


# The long random exploration (not part of `make test`, whose property tests draw the same
# examples every run): new examples each run, many more of them. Each failing example it finds is
# saved in tests/regressions/hypothesis: commit it with the fix, and `make test` replays it.
fuzz: setup
	HYPOTHESIS_PROFILE=explore ICR_FUZZ_API_EXAMPLES=200 ICR_STATEFUL_EXAMPLES=40 ICR_STATEFUL_STEPS=30 \
	  $(PY) -m pytest tests/reliability $(PYTEST_ARGS)

# ruff (pinned in requirements.lock; rules in pyproject.toml): lint failures fail `make test` and CI.
lint: setup
	$(VENV)/bin/ruff check bridge registry tests scripts

serve: setup
	$(CLI) serve

contracts: setup
	$(CLI) contracts build

# Static analysis (Slither) in a virtualenv of its own: slither-analyzer needs web3<8.
$(SLITHER_STAMP): contracts/requirements-slither.txt
	test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet --disable-pip-version-check -r contracts/requirements-slither.txt
	touch $@

analyze: $(NODE_STAMP) $(SLITHER_STAMP)
	$(SLITHER_VENV)/bin/python scripts/static_analysis.py

lock: $(PY_STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v '^icr-bridge' > requirements.lock.new
	{ echo '# Full pinned dependency tree (pip freeze of a working environment, Python 3.11).'; \
	  echo '# Regenerate with `make lock` after changing pyproject.toml.'; cat requirements.lock.new; } > requirements.lock
	rm requirements.lock.new

clean:
	rm -rf $(VENV) $(SLITHER_VENV) contracts/node_modules icr-bridge.sqlite

# Quick runs of every benchmark (each prints figures next to baselines, last line name=value).
bench: setup
	$(PY) scripts/bench_merkle.py --leaves 100000
	$(PY) scripts/bench_e2e.py --quick
	$(PY) scripts/bench_retirement_sync.py --quick
	$(PY) scripts/bench_log_decoding.py --repeat 500
	$(PY) scripts/bench_registry.py --quick
	$(PY) scripts/bench_bulk_insert.py --quick
	$(PY) scripts/bench_mint_refusal.py --quick
	if [ -f scripts/bench_gas.py ]; then $(PY) scripts/bench_gas.py; fi

# The full sizes behind README's Performance figures (tens of minutes on 2 cores).
bench-full: setup
	$(PY) scripts/bench_merkle.py
	$(PY) scripts/bench_e2e.py --blocks 10000
	$(PY) scripts/bench_retirement_sync.py --retirements 10000
	$(PY) scripts/bench_registry.py --blocks 1000000
	$(PY) scripts/bench_bulk_insert.py
	$(PY) scripts/bench_mint_refusal.py --leaves 200 --refusers 1

# Regenerate README's "What is tested" counts from a run of the reliability tests.
test-counts: setup
	$(PY) scripts/test_counts.py --write-readme
