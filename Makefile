# Two commands on a fresh clone: `make demo` and `make test`. Each creates .venv when missing and
# installs the pinned, known-good dependency set (constraints.txt) into it.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean-var clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3 ...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/notifier demo

test: $(STAMP)
	$(BIN)/python -m pytest

clean-var:
	rm -rf var

clean: clean-var
	rm -rf $(VENV)
