# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Not under var/: ingest refuses files among the product's own (docs/security.md).
DEMO_DIR := imagery/demo
DEMO_SIZE ?= 2048
DEMO_PASSWORD ?= demo-admin-pass
PG_URL ?= postgres://postgres@127.0.0.1:5432/chatearthnet
REDIS_TEST_URL ?= redis://127.0.0.1:6379/11

.PHONY: install chromium demo test lint pytest-services pytest-default migrate worker serve bench clean

install: $(STAMP)

# DEBUG is off unless switched on (chatearthnet_site/settings.py); the development
# targets switch it on, for themselves and what they run. `make migrate` and
# `make worker` take the environment as it is, as production runs them.
demo serve test lint pytest-services pytest-default bench: export DEBUG = 1

# The browser tests drive Debian's Chromium (never `playwright install`, which
# downloads a browser build of its own).
chromium:
	@command -v /usr/bin/chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
		else echo "The browser tests need Debian's chromium at /usr/bin/chromium: run 'sudo apt-get install -y chromium'" >&2; fi; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput -v 0

demo: migrate
	@test -f $(DEMO_DIR)/demo_S2L2A.tif || $(BIN)/python manage.py make_demo_scene $(DEMO_DIR) --size $(DEMO_SIZE) --seed 0
	$(BIN)/python manage.py ingest_scene $(DEMO_DIR)/demo_S2L2A.tif $(DEMO_DIR)/demo_WorldCover.tif --name demo
	$(BIN)/python manage.py create_user admin --password $(DEMO_PASSWORD) --superuser
	$(BIN)/python manage.py create_user annotator --password annotator-pass --role annotator
	$(BIN)/python manage.py create_user annotator2 --password annotator2-pass --role annotator
	$(BIN)/python manage.py create_user curator --password curator-pass --role curator
	$(BIN)/python manage.py create_user consumer --password consumer-pass --role consumer
	@# A real Celery worker captions the demo scene (offline backend), then keeps
	@# running beside the server for what the admin site queues; both stop together.
	@# Its own session (setsid): Ctrl+C or a kill of the whole group would reach its
	@# pool's processes too, and one killed holding the pool's lock leaves the worker
	@# hanging in its shutdown; the trap stops the worker, which stops its pool.
	@setsid $(BIN)/celery -A chatearthnet_site worker --loglevel=INFO --concurrency 2 \
		> var/demo-worker.log 2>&1 & worker=$$!; \
		trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
		$(BIN)/python manage.py generate_captions --backend offline --scene demo --wait --allow-empty || exit 1; \
		echo; \
		echo "  ChatEarthNet Studio is at http://127.0.0.1:8000/"; \
		echo "  Log in as  admin / $(DEMO_PASSWORD)      (everything)"; \
		echo "             annotator / annotator-pass (reviews: http://127.0.0.1:8000/review/next/)"; \
		echo "             annotator2 / annotator2-pass (a second annotator: gets the first's captions blind for QA)"; \
		echo "             curator / curator-pass     (admin site, jobs, reverts, adjudication, gold, reviews)"; \
		echo "             consumer / consumer-pass   (reads and exports through the API)"; \
		echo "  Map of the patches: http://127.0.0.1:8000/map/  (curator, consumer; an annotator sees what they reviewed)"; \
		echo "  API docs: http://127.0.0.1:8000/api/docs/  (a token: POST /api/v1/auth/token/ with username and password)"; \
		echo "  A Celery worker runs beside the server (log: var/demo-worker.log)."; \
		echo; \
		$(BIN)/python manage.py runserver 127.0.0.1:8000

# Lint, types, then the suite: all of it on PostgreSQL + Redis when they answer (they
# must under CI=true), then on the zero-setup default (SQLite + file-system broker)
# the tests that touch what differs there (tests/selection.py). Without the services,
# the whole suite runs on the default.
test: lint chromium
	@$(BIN)/python .ci/services.py check || { [ "$$CI" = "true" ] && { echo "CI=true: PostgreSQL and Redis must answer on 127.0.0.1" >&2; exit 1; }; echo "PostgreSQL/Redis not answering: running the whole suite on the default configuration"; }
	@if $(BIN)/python .ci/services.py check >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory pytest-services && $(MAKE) --no-print-directory pytest-default; \
	else $(MAKE) --no-print-directory pytest-default DEFAULT_SELECTION=; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache

pytest-services:
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_TEST_URL) VAR_DIR=var/test-services \
		$(BIN)/pytest -q -p no:cacheprovider

# `make pytest-default DEFAULT_SELECTION=` runs the whole suite there.
DEFAULT_SELECTION ?= -m default_config
pytest-default:
	env -u DATABASE_URL -u CELERY_BROKER_URL VAR_DIR=var/test-default \
		$(BIN)/pytest -q -p no:cacheprovider $(DEFAULT_SELECTION)

worker: migrate
	$(BIN)/celery -A chatearthnet_site worker --loglevel=INFO

serve: migrate
	$(BIN)/python manage.py runserver 127.0.0.1:8000

bench: migrate
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf var .venv .pytest_cache .mypy_cache .ruff_cache
