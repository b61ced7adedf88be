# styler: everything installs into .venv from scratch; `make test` is what CI runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONTENT ?= ../shared/samples/content/chicago.jpg
STYLE ?= ../shared/samples/style/la_muse.jpg

.PHONY: install demo lint test bench gpu-check weights clean

$(BIN)/styler: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch and torchvision from the package index, as one matching pair (the ordinary build runs on
	# CPUs too). A local CPU-only torch 2.13.0+cpu wheel, preinstalled on some machines, cannot load
	# torchvision's compiled ops and would be preferred by pip for the same version: exclude it.
	$(BIN)/pip install -q "torch!=2.13.0+cpu" torchvision
	$(BIN)/pip install -q -e ".[dev,diffusion,onnx]"
	touch $@

install: $(BIN)/styler

demo: install  ## a real transfer; fetches the pretrained weights on first use
	$(BIN)/styler transfer $(CONTENT) $(STYLE) -o out/

lint: install  ## ruff (lint + format), mypy strict on the pure modules, import-linter's layer contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/run.py

# The CUDA check for a lent GPU (about 15 minutes of device time): the cuda tests, then the GPU
# benchmark rows (bench/bench_gpu.py), in under 8 minutes. Without CUDA it says so and exits 0.
gpu-check: install
	@if $(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
		$(BIN)/python -m pytest -q -m cuda tests/test_cuda.py && $(BIN)/python bench/run.py bench_gpu; \
	else \
		echo "gpu-check: no CUDA GPU visible to torch here; skipped (nothing to check)"; \
	fi

weights: install
	$(BIN)/styler weights download && $(BIN)/styler weights verify

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
