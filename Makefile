# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers; each gets its own SQLite and PostgreSQL databases. Tests marked
# xdist_group (the browser tests: one server and one chromium) stay on one worker.
TEST_WORKERS ?= 2

.PHONY: install run test lint format bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

# Migrate, load the bundled sample data into an empty database, serve on $(HOST):$(PORT).
run: install
	$(BIN)/pkgindex migrate
	$(BIN)/pkgindex import --sample --if-empty
	$(BIN)/pkgindex serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check src tests migrations
	$(BIN)/ruff format --check src tests migrations
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests migrations
	$(BIN)/ruff format src tests migrations

# The HTTP speed benchmark (bench/README.md): installs Debian's wrk if missing, then runs
# bench/http_bench.py on a throw-away PostgreSQL database. BENCH_ARGS="--quick" for a smoke test.
bench: install
	@if ! command -v wrk >/dev/null 2>&1; then \
		sudo=""; if [ "$$(id -u)" -ne 0 ]; then sudo=sudo; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		$$sudo apt-get install -y wrk || { $$sudo apt-get update && $$sudo apt-get install -y wrk; }; \
	fi
	$(BIN)/python bench/http_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis pkgindex.db
