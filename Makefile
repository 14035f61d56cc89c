# Two commands on a fresh machine: `make demo` and `make test`. Both install first, idempotently.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NPM_STAMP := contracts/node_modules/.installed

.PHONY: install demo test lint typecheck contracts-check unit slow bench clean

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

unit: install
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup

# The committed ABI and bytecode must be what the pinned solc builds from the sources.
contracts-check: install
	cd contracts && node build.js --check

test: lint typecheck contracts-check unit

slow: install
	$(VENV)/bin/pytest -q -m slow

bench: install
	for script in benchmarks/*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) contracts/node_modules .mypy_cache .ruff_cache .pytest_cache
