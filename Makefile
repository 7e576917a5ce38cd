PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed

.PHONY: venv warm demo lint test clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# compile the simulator's Numba kernels once (about a minute of CPU; a notice on stderr counts them):
# small simulations run interpreted and never need this, searches and batches then start warm
warm: $(STAMP)
	STRUCTCONV_KERNELS=compiled $(BIN)/structconv simulate resnet18 --mode analytical > /dev/null
	STRUCTCONV_KERNELS=compiled $(BIN)/structconv simulate resnet18 --mode cycle > /dev/null

demo: $(STAMP)
	$(BIN)/structconv demo

lint: $(STAMP)
	$(BIN)/ruff check structconv tests benchmarks

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

clean:
	rm -rf $(VENV) out .pytest_cache
