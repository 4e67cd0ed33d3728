# Both targets work on a fresh machine with Python 3.11+, pip and apt only.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_DEPS := $(VENV)/.system-deps
# apt as root, or through sudo where there is one
SUDO := $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null 2>&1 || echo sudo)

# Debian packages the tests need beyond Python: each NEED_* prints the package name when it is missing.
# PostgreSQL: the store tests start their own throwaway server from these binaries (tests/support/postgres.py);
# no system-wide server is started or used.
NEED_POSTGRESQL := command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || echo postgresql
# NEED_CHROMIUM: added with the dashboard screenshot tests

.PHONY: demo test install clean

# Debian's system Python ships venv without ensurepip until python3-venv is installed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

$(SYSTEM_DEPS): | $(BIN)/python
	@missing="$$( { $(NEED_POSTGRESQL); } )"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages for the tests: $$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	touch $@

# The main job: the default graph on every qubit of sim-5q, into ./calibration-data.
# A second `make demo` continues the same simulated device (maintain: only what is due).
demo: $(STAMP)
	$(BIN)/calibrate run --device sim-5q

test: $(STAMP) $(SYSTEM_DEPS)
	$(BIN)/python -m pytest --durations=20

clean:
	rm -rf $(VENV) .pytest_cache
