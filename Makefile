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
# Chromium: the dashboard tests drive Debian's browser headless through Playwright, which must
# not download a browser of its own (tests/dashboards/test_dashboard_browser.py).
NEED_CHROMIUM := command -v chromium >/dev/null || echo chromium

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
	@missing="$$( { $(NEED_POSTGRESQL); $(NEED_CHROMIUM); } )"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages for the tests: $$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	touch $@

# The main job: the default graph on every qubit of sim-5q, into ./calibration-data.
# A second `make demo` continues the same simulated device (maintain: only what is due).
# Then an offline HTML report of the run, written even when some node failed (the run's exit
# status is kept), and how to watch the store live.
DEMO_REPORT := calibration-data/report.html
demo: $(STAMP)
	@$(BIN)/calibrate run --device sim-5q; status=$$?; \
	$(BIN)/calibrate report --out $(DEMO_REPORT) && \
	echo "Open the report in a browser (it works offline): $(CURDIR)/$(DEMO_REPORT)" && \
	echo "Live dashboard: $(BIN)/calibrate dashboard, then open http://127.0.0.1:5006/"; \
	exit $$status

test: $(STAMP) $(SYSTEM_DEPS)
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=20

clean:
	rm -rf $(VENV) .pytest_cache .jax-cache
