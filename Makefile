# styler: everything installs into .venv from scratch; `make test` is what CI runs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONTENT ?= ../shared/samples/content/chicago.jpg
STYLE ?= ../shared/samples/style/la_muse.jpg

.PHONY: install demo test bench weights clean

$(BIN)/styler: pyproject.toml
	$(PY) -m venv $(VENV)
	# torch==2.13.0 first: the pinned CPU build, so nothing pulls CUDA wheels on CPU-only machines.
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0" || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/styler

demo: install  ## a real transfer; fetches the pretrained weights on first use
	$(BIN)/styler transfer $(CONTENT) $(STYLE) -o out/

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/run.py

weights: install
	$(BIN)/styler weights download && $(BIN)/styler weights verify

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
