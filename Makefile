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

# The native part (CMakeLists.txt, native/): configured with Ninja where it is installed, built and unit-tested
# with ctest. Without TensorRT it builds and tests everything but the TensorRT runner (README: Native runner).
NATIVE_BUILD ?= build/native
CMAKE ?= cmake
CTEST ?= ctest
NATIVE_CMAKE_ARGS ?=
# the generator is chosen once, when the build directory is configured for the first time
NATIVE_GENERATOR := $(if $(wildcard $(NATIVE_BUILD)/CMakeCache.txt),,$(if $(shell command -v ninja 2>/dev/null),-G Ninja))

.PHONY: setup demo test test-edge native native-trt-check benchmarks clean

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

# native before pytest: tests/test_native.py runs what `native` built
test: setup test-edge native
	$(BIN)/python -m pytest

test-edge: $(EDGE_STAMP)
	@$(EDGE_VENV)/bin/python -c 'import sys, numpy; print(f"edge target: Python {sys.version.split()[0]}, numpy {numpy.__version__}, no torch")'
	$(EDGE_VENV)/bin/python -m pytest -q -p no:cacheprovider $(EDGE_TESTS)

native:
	$(CMAKE) -S . -B $(NATIVE_BUILD) $(NATIVE_GENERATOR) -DCMAKE_BUILD_TYPE=Release $(NATIVE_CMAKE_ARGS)
	$(CMAKE) --build $(NATIVE_BUILD) --parallel
	$(CTEST) --test-dir $(NATIVE_BUILD) --output-on-failure

# Compiles the TensorRT runner against a TensorRT header set without its libraries (no linking), e.g. the
# include/ of a release branch of github.com/NVIDIA/TensorRT: make native-trt-check TRT_HEADERS=/tmp/trt/include
native-trt-check:
	@test -n "$(TRT_HEADERS)" || { echo "usage: make native-trt-check TRT_HEADERS=<directory with NvInfer.h>"; exit 2; }
	$(CMAKE) -S . -B build/native-trt-check $(if $(wildcard build/native-trt-check/CMakeCache.txt),,$(if $(shell command -v ninja 2>/dev/null),-G Ninja)) \
		-DAMF_EDGE_TRT_COMPILE_ONLY=ON -DTensorRT_INCLUDE_DIR=$(abspath $(TRT_HEADERS)) -DBUILD_TESTING=OFF $(NATIVE_CMAKE_ARGS)
	$(CMAKE) --build build/native-trt-check --target amf_edge_trt_check --parallel

# docs/benchmarks.md's inference tables, measured on this machine (about 20 minutes on 2 cores)
benchmarks: setup
	$(BIN)/python -m bench.experiments.cpu

clean:
	rm -rf $(VENV) $(EDGE_VENV) build *.egg-info
