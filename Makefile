# The two commands a new user needs:  make run   and   make test
# Both build .venv themselves on a fresh machine (python3, make, git) and install what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test fixtures start for real: Dovecot (IMAP), khal (a calendar client), mutt (opens
# the demo's Maildir as a user would).
TEST_SYSTEM_PACKAGES := dovecot-imapd openssl khal mutt
# The PostgreSQL server (initdb, pg_ctl, pg_dump) that `make test-postgres` starts a throwaway cluster of.
POSTGRES_SYSTEM_PACKAGES := postgresql

.PHONY: run test test-postgres proof-postgres bench proof demo venv system-packages lock clean

run: venv
	$(BIN)/kkrbot run

# lint-imports checks the layers contract in pyproject.toml: an upward import fails here, named.
test: venv system-packages
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite again on PostgreSQL (issue 13): scripts/with-postgres starts a throwaway cluster on a
# free loopback port as an unprivileged user and removes it afterwards; each test gets its own database.
# Tests marked sqlite_only are deselected there, postgres_only ones run only there.
test-postgres: venv system-packages
	@scripts/ensure-system-packages $(POSTGRES_SYSTEM_PACKAGES)
	$(BIN)/lint-imports --no-cache
	PG_FSYNC=off scripts/with-postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# The three-process test at full size: 2,000 mails, three `kkrbot run` on one PostgreSQL, one SIGKILLed.
proof-postgres: venv system-packages
	@scripts/ensure-system-packages $(POSTGRES_SYSTEM_PACKAGES)
	SCALE_MAILS=2000 PG_FSYNC=off scripts/with-postgres $(BIN)/python -m pytest -s tests/test_scale.py

bench: venv system-packages
	@scripts/ensure-system-packages $(POSTGRES_SYSTEM_PACKAGES)
	$(BIN)/python -m bench

# The crash campaign (issue 9): 2,000 mails through a real `kkrbot run` killed 20 times; fails on any
# mail lost or doubled outside the one-batch window. PROOF_ARGS, e.g. --seed 7, picks another run.
# Then the demo network's whole year through a real `kkrbot run` killed 12 times (make test: 4 months).
proof: venv system-packages
	$(BIN)/python -m proof $(PROOF_ARGS)
	KKRBOT_KILLED_YEAR=full $(BIN)/python -m pytest -q -p no:cacheprovider tests/meetings/test_year_killed.py

# A network's year on a simulated clock (kkrbot demo): a timeline, the counts, a Maildir to open.
# DEMO_ARGS, e.g. --year 2027 --network it-teknik, picks another.
demo: venv
	$(BIN)/kkrbot demo $(DEMO_ARGS)

venv: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  scripts/ensure-system-packages python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	@touch $@

system-packages:
	@scripts/ensure-system-packages $(TEST_SYSTEM_PACKAGES)

# Refresh constraints.txt (the lock CI installs from) after changing dependencies.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade -e '.[test]'
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^kkrbot' > constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info
