# Targets mirror the README. Each one works from a fresh clone: it creates .venv when missing.
#   make demo            quick start: install, migrate, demo grid, server + agents + demo jobs (Ctrl-C stops)
#   make test            the whole suite (ruff + pytest); SQLite unless DATABASE_URL / CELERY_BROKER_URL are set
#   make test-postgres   the whole suite on the local PostgreSQL and Redis (PG_DB, REDIS_DB pick the databases)
#   make install | migrate | lint

PG_DB ?= panda
REDIS_DB ?= 15
PYTEST_ARGS ?=

.PHONY: help install demo test test-postgres migrate lint

help:
	@sed -n 's/^#   //p' Makefile

install:
	bash scripts/install.sh

demo:
	bash scripts/quickstart.sh

test:
	bash scripts/run_tests.sh $(PYTEST_ARGS)

test-postgres:
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(PG_DB) CELERY_BROKER_URL=redis://127.0.0.1:6379/$(REDIS_DB) \
		bash scripts/run_tests.sh $(PYTEST_ARGS)

migrate: install
	.venv/bin/python manage.py migrate --noinput

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
