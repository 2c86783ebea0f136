# Two entry points from a fresh clone with only python3: `make dev` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# dclint (the compose linter the deploy-file tests run) from the npm registry, pinned, project-local.
DCLINT_VERSION := 3.1.0
NODE_TOOLS := .tools/node
DCLINT_STAMP := $(NODE_TOOLS)/.dclint-$(DCLINT_VERSION)
# openapi-typescript (the TypeScript client's types, `make clients`), pinned, project-local too.
OPENAPI_TS_VERSION := 7.13.0
OPENAPI_TS_STAMP := $(NODE_TOOLS)/.openapi-typescript-$(OPENAPI_TS_VERSION)

.PHONY: dev test lint typecheck pytest bench mutations clean test-gpu-path gpu-check gpu-check-dry \
	config-docs error-docs clients

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Without npm the dclint checks skip with the reason; with it, a failed install fails the run.
$(DCLINT_STAMP):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(NODE_TOOLS) --no-audit --no-fund --save-exact dclint@$(DCLINT_VERSION) \
		&& touch $@; \
	else echo "npm not found: the dclint checks will be skipped"; fi

$(OPENAPI_TS_STAMP):
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(NODE_TOOLS) --no-audit --no-fund --save-exact \
			openapi-typescript@$(OPENAPI_TS_VERSION) && touch $@; \
	else echo "npm not found: the TypeScript client checks will be skipped"; fi

dev: $(STAMP)
	$(BIN)/heirloom dev

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(DCLINT_STAMP) $(OPENAPI_TS_STAMP)
	$(BIN)/pytest

# docs/configuration.md, generated from the Settings fields; a unit test fails while it is stale.
config-docs: $(STAMP)
	$(BIN)/heirloom config-docs --write docs/configuration.md

# Each known mutation (tests/mutations/catalogue.py) applied alone to a copy of the tree: the
# tests named for it must fail. Prints the mutation score; writes mutations.json.
mutations: $(STAMP)
	$(BIN)/python -m tests.mutations.run --json mutations.json

# The OpenAPI document and the clients generated from it (clients/README.md); a test fails
# while they are stale.
clients: $(STAMP) $(OPENAPI_TS_STAMP)
	$(BIN)/heirloom openapi --write clients/openapi.json
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/openapi-python-client generate \
		--path clients/openapi.json --config clients/python/openapi-python-client.yaml \
		--meta none --output-path clients/python/heirloom_client/generated --overwrite
	$(NODE_TOOLS)/node_modules/.bin/openapi-typescript clients/openapi.json \
		--output clients/typescript/src/schema.d.ts

# docs/errors.md, generated from domain/errors.py; a unit test fails while it is stale.
error-docs: $(STAMP)
	$(BIN)/heirloom error-docs --write docs/errors.md

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

# The one GPU check (bench/gpu_check.py, docs/gpu-engine.md): on a machine with an NVIDIA GPU
# and no internet, in under 8 minutes; figures in gpu-check.json. Torch (with diffusers and
# transformers) comes from the machine's python3 if it has them, otherwise from the pinned
# wheels in $(GPU_VENV). gpu-check-dry runs the same script on the CPU with the tiny model.
GPU_CHECK_PYTHON = $(shell $(PYTHON) -c 'import torch, diffusers, transformers, peft, pytest' \
	>/dev/null 2>&1 && echo $(PYTHON))
GPU_CHECK_ARGS ?=

gpu-check:
	@if [ -n "$(GPU_CHECK_PYTHON)" ]; then \
		timeout 480 $(GPU_CHECK_PYTHON) bench/gpu_check.py $(GPU_CHECK_ARGS); \
	else \
		$(MAKE) $(GPU_STAMP) && timeout 480 $(GPU_VENV)/bin/python bench/gpu_check.py $(GPU_CHECK_ARGS); \
	fi

gpu-check-dry: $(GPU_STAMP)
	timeout 480 $(GPU_VENV)/bin/python bench/gpu_check.py --dry --out gpu-check-dry.json

clean:
	rm -rf $(VENV) $(GPU_VENV) .mypy_cache .ruff_cache .pytest_cache .tools
