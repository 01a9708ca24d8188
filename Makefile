PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM := $(VENV)/.system-packages
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test lint install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# Documents and pages are in Chinese: a CJK font (Noto CJK, embedded in every PDF) is needed to run, with
# HanaMin (the rare characters of names) and Noto Color Emoji so that any text a form accepts prints;
# the browser tests use Debian's Chromium.
$(SYSTEM):
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi 'noto serif cjk' || \
			! fc-list 2>/dev/null | grep -q 'HanaMinB' || ! fc-list 2>/dev/null | grep -qi 'noto color emoji'; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk fonts-hanazono \
			fonts-noto-color-emoji >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $(SYSTEM)

# promtool (Debian's prometheus package, unpacked: no service installed) checks docker/prometheus
$(BIN)/promtool: | $(STAMP)
	@rm -rf $(VENV)/promtool.d && mkdir -p $(VENV)/promtool.d
	@cd $(VENV)/promtool.d && { apt-get download prometheus >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } && \
		dpkg -x prometheus_*.deb unpacked
	@cp $(VENV)/promtool.d/unpacked/usr/bin/promtool $(BIN)/promtool && rm -rf $(VENV)/promtool.d

install: $(STAMP)

run: $(STAMP) $(SYSTEM)
	$(BIN)/crisisflow dev

lint: $(STAMP)
	$(BIN)/ruff check .

# test files run side by side (pytest-xdist), two workers per core: the tests spend much of their time waiting on
# servers, subprocesses and timers, and a second worker fills that time; a file's tests stay together on one
# worker, which keeps its session's servers (tests/conftest.py hands out the longest files first)
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))
test: lint $(SYSTEM) $(BIN)/promtool
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

# every figure beside its floor in the same run (bench/compare.py --help for one part or one database)
bench: $(STAMP)
	$(BIN)/python bench/compare.py

clean:
	rm -rf $(VENV) var build *.egg-info
