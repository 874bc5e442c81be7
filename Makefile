# Tidings — the commands of the README. Python 3.11; everything installs into .venv.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format worker bench browser

install: $(STAMP)

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	@touch $(STAMP)

# Quiet on purpose: what a newcomer needs (the demo loading, one line about
# the demo's webhook secrets, then the login and the URL last), errors always.
ADDR ?= 127.0.0.1:8000
run: install
	@DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput --verbosity 0
	@DEBUG=$${DEBUG:-true} $(PY) manage.py bootstrap_demo
	@DEBUG=$${DEBUG:-true} $(PY) manage.py serve_demo $(ADDR)

test: install browser
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

worker: install
	@test -n "$$REDIS_URL" || (echo "Set REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run a worker." && exit 2)
	$(VENV)/bin/celery -A config worker --beat --loglevel=INFO --concurrency=$${WORKER_CONCURRENCY:-2}

bench: install
	$(PY) -m bench

# Debian's Chromium for the browser tests (Playwright drives it through
# executable_path; no browser download of its own).
browser:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
