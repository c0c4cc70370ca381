# The one command surface. Every target uses .venv/ and creates it first when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICES := shared stub_loop detector trainer converter
PYPROJECTS := $(addsuffix /pyproject.toml,$(SERVICES))

.PHONY: install test lint run bench e2e images base-image clean help compat

help:
	@echo "make install   create .venv with every service, the stub Loop and the dev tools"
	@echo "make run       stub Loop (seeded demo) + detector + trainer + converter as local processes"
	@echo "make test      the hermetic test suite (no Docker, no network)"
	@echo "make lint      ruff and mypy"
	@echo "make bench     benchmarks; figures printed and written to bench/results/"
	@echo "make e2e       build the images, run the compose stack, play the whole loop"

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(addprefix -e ./,$(SERVICES)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared/loop_shared stub_loop/stub_loop detector/loop_detector trainer/loop_trainer converter/loop_converter

run: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH bash scripts/run_local.sh

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .run build

compat: $(STAMP)
	bash compat/run_check.sh
