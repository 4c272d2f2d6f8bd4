# Two entry points (see README): `make demo` and `make test`. Both set up .venv first if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The course datasets: an explicit folder wins; next to a checkout of this project, the shared copy.
export GRADER_DATA_DIR ?= $(abspath $(firstword $(wildcard ../shared/datasets)))
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup demo test

$(BIN)/grader: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[instructor,test,tensorflow]'
	touch $@

# The Python environment, then the system's sandbox (bubblewrap) where this machine allows it.
setup: $(BIN)/grader
	@scripts/install-bubblewrap.sh

demo: setup
	$(BIN)/grader demo

test: setup
	$(BIN)/python -m pytest
