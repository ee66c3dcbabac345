# Two commands on a fresh machine: `make workbook` and `make test`. Everything else is a convenience.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= templates/default.toml
OUT    ?= output/backprop.xlsx

.PHONY: setup workbook extreme test lint format data train bench clean

setup: $(STAMP)

# Re-installs only when pyproject.toml changes, so `make workbook` stays quick after the first run.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

workbook: setup
	$(BIN)/excelgen --config $(CONFIG) --out $(OUT)

extreme: setup
	$(BIN)/excelgen --config templates/extreme.toml --out output/backprop-extreme.xlsx

test: setup
	$(BIN)/python -m pytest
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

data: setup
	$(BIN)/trainer data

# Data (offline when needed), the default model, and its results as an MNIST sheet in the workbook.
train: setup
	$(BIN)/trainer data
	$(BIN)/trainer train --workbook $(OUT)

bench: setup
	$(BIN)/python -m excelgen.bench
	$(BIN)/python -m trainer.bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find output -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
