# `make demo` and `make test` set everything up on a fresh machine: a virtual environment in .venv with
# the pinned requirements and amf-edge installed in editable mode.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The edge target (JetPack 6): Python 3.10, numpy 1.x, no torch. `make test` also runs the torch-free
# tests there, so the runtime's promise in pyproject.toml (Python >= 3.10, numpy >= 1.24) is tested.
# The first Python 3.10 that runs (pyenv installs count), else $(PYTHON).
EDGE_PYTHON ?= $(firstword $(foreach p,python3.10 $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10),\
	$(shell $(p) -c 'print("$(p)")' 2>/dev/null)) $(PYTHON))
EDGE_VENV ?= .venv-edge
EDGE_STAMP := $(EDGE_VENV)/.installed
EDGE_TESTS := tests/test_config.py tests/test_synthetic.py tests/test_visualize.py tests/test_datasets.py tests/test_transforms.py tests/test_calib.py tests/test_pipeline.py tests/test_sinks.py tests/test_sync.py tests/test_sources.py \
	tests/test_bench.py tests/test_bench_environment.py tests/test_bench_trtexec.py tests/test_bench_render.py

.PHONY: setup demo test test-edge benchmarks clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-build-isolation -e .
	touch $(STAMP)

$(EDGE_STAMP): requirements-edge.txt pyproject.toml
	$(EDGE_PYTHON) -m venv $(EDGE_VENV)
	$(EDGE_VENV)/bin/python -m pip install --quiet -r requirements-edge.txt
	$(EDGE_VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(EDGE_STAMP)

demo: setup
	$(BIN)/amf-edge demo

test: setup test-edge
	$(BIN)/python -m pytest

test-edge: $(EDGE_STAMP)
	@$(EDGE_VENV)/bin/python -c 'import sys, numpy; print(f"edge target: Python {sys.version.split()[0]}, numpy {numpy.__version__}, no torch")'
	$(EDGE_VENV)/bin/python -m pytest -q -p no:cacheprovider $(EDGE_TESTS)

# docs/benchmarks.md's inference tables, measured on this machine (about 20 minutes on 2 cores)
benchmarks: setup
	$(BIN)/python -m bench.experiments.cpu

clean:
	rm -rf $(VENV) $(EDGE_VENV) build *.egg-info
