# Two entry points from a fresh clone with only python3: `make dev` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test lint typecheck pytest bench clean test-gpu-path

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/heirloom dev

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/imaging.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/api.py

# The GPU engine's real pipeline code on a tiny random model, on the CPU, in its own venv.
# torch is installed first and exactly: the gpu extra's range alone could pull a CUDA build.
GPU_VENV := .venv-gpu
GPU_STAMP := $(GPU_VENV)/.installed-stamp
TORCH_CPU ?= torch==2.13.0

$(GPU_STAMP): pyproject.toml
	$(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GPU_VENV)/bin/python -m pip install --quiet '$(TORCH_CPU)'
	$(GPU_VENV)/bin/python -m pip install --quiet -e '.[gpu,dev]'
	touch $(GPU_STAMP)

test-gpu-path: $(GPU_STAMP)
	$(GPU_VENV)/bin/pytest tests/gpu -q

clean:
	rm -rf $(VENV) $(GPU_VENV) .mypy_cache .ruff_cache .pytest_cache
