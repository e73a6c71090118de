# mailcore — two commands on a fresh machine: `make run` and `make test` (README.md).
#
# Everything a target needs is installed by the target itself: the virtualenv (python3.11),
# the project with its dev extra (again only when pyproject.toml changed), and Debian's
# chromium and postfix (for smtp-sink) when missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
BENCH_VENV := .venv-bench

# Ports of `make run`, from the environment (the settings also read MAILCORE_GATEWAY_PORT).
MAILCORE_WEB_HOST ?= 127.0.0.1
MAILCORE_WEB_PORT ?= 8000
MAILCORE_SINK_PORT ?= 1025
# Links in mail point at this web server, and its mail goes to its own sink wherever it listens.
run: export MAILCORE_BASE_URL ?= http://$(MAILCORE_WEB_HOST):$(MAILCORE_WEB_PORT)
run: export MAILCORE_SINK_PORT := $(MAILCORE_SINK_PORT)
run: export MAILCORE_SMTP_PORT ?= $(MAILCORE_SINK_PORT)

# The services of the second test pass (CI provides both).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/mailcore
TEST_BROKER_URL ?= redis://127.0.0.1:6379/1
PYTEST_ARGS ?=

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q

.PHONY: help run test lint bench install system-deps test-embedded test-services messages compilemessages

help:
	@echo "make run    start web (http://$(MAILCORE_WEB_HOST):$(MAILCORE_WEB_PORT), admin/admin), Celery worker+beat,"
	@echo "            SMTP sink (127.0.0.1:1025, shown at /sink/) and the inbound gateway; Ctrl-C stops all"
	@echo "make test   ruff + mypy, then the suite on SQLite + filesystem broker, then on PostgreSQL + Redis"
	@echo "make lint   ruff + mypy only"
	@echo "make messages  update every catalogue (fr ja ro zh_Hans) from the code, then compile them"
	@echo "make bench  the benchmarks under bench/, a table of their figures, docs/benchmarks.md"
	@echo "            (installs the peers django-post-office and django-mailer in $(BENCH_VENV) only)"

# --- environment --------------------------------------------------------------------------------
$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when pyproject.toml changes.
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed-dev compilemessages

# --- translations ---------------------------------------------------------------------------------
# Catalogues (.po) are committed; the compiled .mo files are built here and never committed.
# Each app's strings go to its own <app>/locale/, the top-level templates/ and config/ to locale/.
LOCALES := fr ja ro zh_Hans
MAKEMESSAGES_IGNORE := --ignore=.venv --ignore=.venv-bench --ignore=bench --ignore=tests \
	--ignore='*/tests/*' --ignore=var --ignore=build --ignore=docs

define need_gettext
	@command -v msgfmt >/dev/null || { echo "Installing Debian package: gettext"; \
		$(APT_GET) update -qq; $(APT_GET) install --no-install-recommends gettext >/dev/null; }
endef

compilemessages: $(VENV)/.installed-dev
	$(need_gettext)
	$(PY) manage.py compilemessages -v 0 $(MAKEMESSAGES_IGNORE)

messages: $(VENV)/.installed-dev
	$(need_gettext)
	$(PY) manage.py makemessages --no-obsolete --no-location --no-wrap $(addprefix -l ,$(LOCALES)) $(MAKEMESSAGES_IGNORE)
	$(MAKE) compilemessages

# Debian packages the suite needs: chromium (browser tests), fonts-noto-cjk (Japanese and Chinese
# pages in the browser tests and screenshots), gettext (msgfmt, xgettext: the catalogues and their
# test) and postfix (its smtp-sink binary, used by the benchmark). Postfix is installed unconfigured so no daemon starts and nothing asks.
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/sbin/smtp-sink ] || missing="$$missing postfix"; \
	[ -x /usr/bin/msgfmt ] || missing="$$missing gettext"; \
	[ -d /usr/share/fonts/opentype/noto ] || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		echo "postfix postfix/main_mailer_type select No configuration" | $(SUDO) debconf-set-selections; \
		$(APT_GET) update -qq; \
		$(APT_GET) install --no-install-recommends $$missing >/dev/null; \
	fi

# --- run ------------------------------------------------------------------------------------------
run: install
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py collectstatic --no-input -v 0
	exec $(PY) manage.py run_all --web $(MAILCORE_WEB_HOST):$(MAILCORE_WEB_PORT)

# --- tests ----------------------------------------------------------------------------------------
# Two passes. 1) The embedded default: SQLite + filesystem broker, browser tests included.
# 2) PostgreSQL + Redis, when CI=true (then a test whose service is missing fails) or when both
#    answer here; browser tests are not repeated (they exercise the UI, not the database), nor the
#    tests that cannot reach the database (marked nodb by conftest.py).
# pytest's exit code 5 ("no tests collected") is a failure, never a silent pass.
#
# ruff and mypy run first but do not stop the suite: one run shows every kind of failure.
# The two passes share no database, broker or port, and spend much of their time waiting on
# sockets and child processes: side by side they end in about the time of the longer one.
test: install system-deps
	@failed=""; \
	echo "== ruff =="; $(BIN)/ruff check . || failed="$$failed ruff"; \
	echo "== mypy =="; $(BIN)/mypy . || failed="$$failed mypy"; \
	mkdir -p var/test; \
	echo "== pass 1 and pass 2 run side by side (var/test/pass-*.log); each one's output follows when it ends =="; \
	$(MAKE) test-embedded > var/test/pass-1.log 2>&1 & pass1=$$!; \
	$(MAKE) test-services > var/test/pass-2.log 2>&1 & pass2=$$!; \
	wait $$pass1 || failed="$$failed pass-1"; cat var/test/pass-1.log; \
	wait $$pass2 || failed="$$failed pass-2"; cat var/test/pass-2.log; \
	if [ -n "$$failed" ]; then echo "make test FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: all passed"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy .

define run_pytest
	rc=0; $(1) $(BIN)/pytest -q $(2) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing." >&2; exit 1; fi; \
	exit $$rc
endef

test-embedded:
	@echo "== pass 1: SQLite + filesystem broker =="
	@$(call run_pytest,env -u DATABASE_URL -u CELERY_BROKER_URL -u REDIS_URL -u MAILCORE_REQUIRE_SERVICES,)

test-services:
	@if [ "$${CI:-}" = "true" ]; then \
		echo "== pass 2: PostgreSQL + Redis (CI: missing services fail) =="; \
	elif $(PY) -c 'import sys, psycopg, redis; \
		psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close(); \
		redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=3).ping()' 2>/dev/null; then \
		echo "== pass 2: PostgreSQL + Redis =="; \
	else \
		echo "== pass 2 skipped: PostgreSQL at 127.0.0.1:5432 or Redis at 127.0.0.1:6379 does not answer =="; \
		exit 0; \
	fi; \
	$(call run_pytest,env DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		MAILCORE_REQUIRE_SERVICES=$$([ "$${CI:-}" = "true" ] && echo 1 || echo 0),-m "not browser and not nodb")

# --- benchmarks -----------------------------------------------------------------------------------
$(BENCH_VENV)/.installed: pyproject.toml
	[ -x $(BENCH_VENV)/bin/python ] || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[bench]'
	@touch $@

# Every benchmark under bench/, then a table of their figures (one line each, with the command
# that printed it), also written to docs/benchmarks.md with the date. About 18 minutes on 2 cores.
bench: $(BENCH_VENV)/.installed system-deps compilemessages
	$(BENCH_VENV)/bin/python bench/report.py --write docs/benchmarks.md
