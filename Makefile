# rainset: `make demo` and `make test` each work on a fresh machine.
# They create .venv when missing, install rainset with every extra, and run.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
PYTEST_ARGS ?=

.PHONY: install demo test system-deps bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL for the catalog tests and Chromium for the browser tests, when we may install
# them (root) and they are missing. Without them those tests skip with a reason (and fail under CI=true).
system-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium (Debian package) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium not installed and not root: the browser tests will be skipped"; fi
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing PostgreSQL (Debian package) for the catalog tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else echo "PostgreSQL not installed and not root: the PostgreSQL tests will be skipped"; fi

demo: install
	$(VENV)/bin/rainset demo

test: install system-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
