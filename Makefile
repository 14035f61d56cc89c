# Two commands on a fresh machine: `make demo` and `make test`. Both install first, idempotently.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NPM_STAMP := contracts/node_modules/.installed
# Slither pins web3<8 (the project needs web3 8): its own virtual environment, from pyproject's `slither` group.
SLITHER_VENV  := .venv-slither
SLITHER_STAMP := $(SLITHER_VENV)/.installed
FORGE := node_modules/.bin/forge

.PHONY: install demo test lint typecheck contracts-check forge slither unit slow bench clean

install: $(STAMP) $(NPM_STAMP)

# torch first, from the CPU wheel on the machine's local index, or concrete-python pulls CUDA wheels;
# concrete imports pkg_resources, hence setuptools<81.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools<81" wheel
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip check
	touch $(STAMP)

$(NPM_STAMP): contracts/package.json contracts/package-lock.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

demo: install
	$(VENV)/bin/darkpool demo

lint: install
	$(VENV)/bin/ruff check darkpool fhe commit_reveal tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

# A crashed worker fails the run at once, naming its test: restarted under --dist loadgroup, xdist can wait forever.
unit: install
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup --max-worker-restart=0

$(SLITHER_STAMP): pyproject.toml
	test -x $(SLITHER_VENV)/bin/python || python3 -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(SLITHER_VENV)/bin/python -m pip install --quiet --group slither
	touch $(SLITHER_STAMP)

# The committed ABI and bytecode must be what the pinned solc builds from the sources.
contracts-check: install
	cd contracts && node build.js --check

# forge unit, fuzz and invariant tests, offline, compiled by the pinned solc-js (contracts/tools/solc).
forge: $(NPM_STAMP)
	cd contracts && $(FORGE) test --offline

# Slither fails on any medium or high finding; lows are fixed or explained beside a slither-disable comment.
slither: $(NPM_STAMP) $(SLITHER_STAMP)
	cd contracts && PATH="$$PWD/node_modules/.bin:$$PATH" ../$(SLITHER_VENV)/bin/slither . --fail-medium

test: lint typecheck contracts-check forge slither unit

slow: install
	$(VENV)/bin/pytest -q -m slow

bench: install
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) $(SLITHER_VENV) contracts/node_modules contracts/out contracts/cache .mypy_cache .ruff_cache .pytest_cache
