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
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Documents and pages are in Chinese: a CJK font (Noto CJK, embedded in every PDF) is needed to run;
# the browser tests use Debian's Chromium.
$(SYSTEM):
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi 'noto serif cjk'; then \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $(SYSTEM)

install: $(STAMP)

run: $(STAMP) $(SYSTEM)
	$(BIN)/crisisflow dev

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint $(SYSTEM)
	$(BIN)/pytest -q

# every figure beside its floor in the same run (bench/compare.py --help for one part or one database)
bench: $(STAMP)
	$(BIN)/python bench/compare.py

clean:
	rm -rf $(VENV) var build *.egg-info
