# `make demo` sets up and starts Tailor with a demo store; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint format services browser datasets evaluate

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.runtime: $(VENV)/bin/python requirements.txt
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# A local .env with a fresh SECRET_KEY, made once; variables in the environment still win.
.env:
	sed "s|^SECRET_KEY=.*|SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" .env.example > $@
	@echo "Created .env with a new SECRET_KEY."

demo: $(VENV)/.runtime .env
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

# The suite runs against this machine's Postgres and Redis (defaults in pyproject.toml).
test: $(VENV)/.dev services browser
	$(PY) -m pytest
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

services:
	@$(PY) scripts/services_check.py

# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser).
APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo) apt-get
browser:
	@command -v chromium >/dev/null || { $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium chromium-driver >/dev/null; }

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Public evaluation data ships inside two wheels; fetched here, never at run time.
DATASETS := var/datasets
$(DATASETS)/ml-100k.inter $(DATASETS)/CDNOW_master.txt: | $(VENV)/bin/python
	mkdir -p $(DATASETS)
	$(PY) -m pip download -q --no-deps --dest $(DATASETS) recbole==1.2.1 lifetimes==0.11.3
	cd $(DATASETS) && unzip -o -j -q recbole-1.2.1-py3-none-any.whl 'recbole/dataset_example/ml-100k/ml-100k.inter'
	cd $(DATASETS) && unzip -o -j -q Lifetimes-0.11.3-py3-none-any.whl 'lifetimes/datasets/CDNOW_master.txt'

datasets: $(DATASETS)/ml-100k.inter $(DATASETS)/CDNOW_master.txt

evaluate: $(VENV)/.runtime datasets
	$(PY) manage.py evaluate_recommender --interactions $(DATASETS)/ml-100k.inter
