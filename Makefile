# Two commands on a fresh machine: `make workbook` and `make test`. Everything else is a convenience.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= templates/default.toml
OUT    ?= output/backprop.xlsx

# What each target installs: the workbook needs only the core (numpy, openpyxl, xlsxwriter); training adds
# the `train` extra (PyTorch and friends); the tests need everything. Each stamp re-installs only when
# pyproject.toml changes, so a target stays quick after its first run.
CORE  := $(VENV)/.installed-core
TRAIN := $(VENV)/.installed-train
DEV   := $(VENV)/.installed-dev

.PHONY: setup workbook extreme test lint format data train bench clean

setup: $(CORE)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(CORE): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TRAIN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[train]'
	touch $@ $(CORE)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[train,dev]'
	touch $@ $(TRAIN) $(CORE)

workbook: $(CORE)
	$(BIN)/excelgen --config $(CONFIG) --out $(OUT)

extreme: $(CORE)
	$(BIN)/excelgen --config templates/extreme.toml --out output/backprop-extreme.xlsx

test: $(DEV)
	$(BIN)/python -m pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

data: $(TRAIN)
	$(BIN)/trainer data

# Data (offline when needed), the default model, and its results as an MNIST sheet in the workbook.
train: $(TRAIN)
	$(BIN)/trainer data
	$(BIN)/trainer train --workbook $(OUT)

bench: $(TRAIN)
	$(BIN)/python -m excelgen.tools.bench
	$(BIN)/python -m excelgen.grade.bench
	$(BIN)/python -m excelgen.classroom.bench
	$(BIN)/python -m trainer.bench
	$(BIN)/python bench/allocator_faults.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find output -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
