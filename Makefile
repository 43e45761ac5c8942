# `make demo` and `make test` set everything up on a fresh Debian/Ubuntu machine that has git, make and
# Python >= 3.10: the Debian packages (scripts/install-system-deps.sh, only what is missing), a virtual
# environment in .venv with torch pinned, amf-edge installed in editable mode with all its extras, and for
# `make test` the edge environment .venv-edge and the native build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first and alone, at the version requirements.txt pins: in the same pip call as the rest, a
# dependency could pick another torch, and PyPI's torch for Linux x86_64 pulls gigabytes of CUDA wheels.
# TORCH_INDEX adds an index for it, e.g. make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH := $(shell sed -n 's/^\(torch==[^ ;\#]*\).*/\1/p' requirements.txt)
TORCH_INDEX ?=

# The edge target (JetPack 6): Python 3.10, numpy 1.x, no torch. `make test` also runs the torch-free
# tests there, so the runtime's promise in pyproject.toml (Python >= 3.10, numpy >= 1.24) is tested.
# The first Python 3.10 that runs (pyenv installs count), else $(PYTHON).
EDGE_PYTHON ?= $(firstword $(foreach p,python3.10 $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10),\
	$(shell $(p) -c 'print("$(p)")' 2>/dev/null)) $(PYTHON))
EDGE_VENV ?= .venv-edge
EDGE_STAMP := $(EDGE_VENV)/.installed
# The torch-free test modules (`pytestmark = pytest.mark.edge`); pytest is given only these because it
# imports every module it collects, and the others import torch.
EDGE_TEST_FILES = $(shell grep -rlE --include='test_*.py' 'pytest\.mark\.edge' tests)

# The native part (CMakeLists.txt, native/): configured with Ninja where it is installed, built and unit-tested
# with ctest. Without TensorRT it builds and tests everything but the TensorRT runner (README: Native runner).
NATIVE_BUILD ?= build/native
CMAKE ?= cmake
CTEST ?= ctest
NATIVE_CMAKE_ARGS ?=
# the generator is chosen once, when the build directory is configured for the first time
NATIVE_GENERATOR := $(if $(wildcard $(NATIVE_BUILD)/CMakeCache.txt),,$(if $(shell command -v ninja 2>/dev/null),-G Ninja))

# NVIDIA ModelOpt, for `amf-edge quantize --quantizer modelopt` (optional): an environment of its own, because it
# pins onnx 1.21 and pulls onnxruntime-gpu, which would replace .venv's onnx and onnxruntime. It imports torch too
# (requirements.txt's pin, from TORCH_INDEX as for .venv). About 2 GB; convert/modelopt_driver.py runs there. The
# stamp names the pin, so changing MODELOPT reinstalls.
MODELOPT_VENV ?= .venv-modelopt
MODELOPT ?= nvidia-modelopt[onnx]==0.47.0
MODELOPT_STAMP := $(MODELOPT_VENV)/.installed-$(subst ==,-,$(subst [onnx],,$(MODELOPT)))

.PHONY: setup system-deps demo test lint test-edge native native-trt-check benchmarks gpu-check modelopt clean

setup: $(STAMP)

# The Debian packages (the list and who needs each: scripts/install-system-deps.sh). Runs every time and
# takes a few file tests when nothing is missing; an order-only prerequisite, so it never makes a venv stale.
system-deps:
	@scripts/install-system-deps.sh $(PYTHON) $(EDGE_PYTHON)

# The development environment: torch, the rest of requirements.txt, then amf-edge with every extra. [all]
# has the GUI OpenCV wheel (--sink window); the headless wheel must not be installed beside it (both own
# site-packages/cv2), so an older .venv's is removed first, with the GUI wheel that shared its files.
$(STAMP): requirements.txt pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	if $(BIN)/python -m pip show --quiet opencv-python-headless 2>/dev/null; then \
		$(BIN)/python -m pip uninstall --quiet --yes opencv-python-headless opencv-python; fi
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[all,test]"
	@! $(BIN)/python -m pip show --quiet opencv-python-headless 2>/dev/null \
		|| { echo "error: opencv-python-headless is installed in $(VENV) beside opencv-python" >&2; exit 1; }
	touch $(STAMP)

# The edge target: amf-edge[runtime,bench,test] and nothing else (bench: `amf-edge bench` draws its plots
# on the robot too, and tests/bench checks them), at JetPack 6's versions: requirements-edge.txt constrains
# them and installs nothing itself.
$(EDGE_STAMP): requirements-edge.txt pyproject.toml | system-deps
	$(EDGE_PYTHON) -m venv $(EDGE_VENV)
	$(EDGE_VENV)/bin/python -m pip install --quiet -c requirements-edge.txt -e ".[runtime,bench,test]"
	touch $(EDGE_STAMP)

$(MODELOPT_STAMP): requirements.txt | system-deps
	$(PYTHON) -m venv $(MODELOPT_VENV)
	$(MODELOPT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MODELOPT_VENV)/bin/python -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	$(MODELOPT_VENV)/bin/python -m pip install --quiet "$(MODELOPT)" numpy
	touch $(MODELOPT_STAMP)

modelopt: $(MODELOPT_STAMP)

demo: setup
	$(BIN)/amf-edge demo

# native before pytest: tests/native/test_native.py runs what `native` built
# modelopt: tests/convert/test_modelopt.py checks our use of NVIDIA ModelOpt against the real thing (about 1.5 min
# and 2 GB the first time)
test: lint test-edge native modelopt
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

test-edge: $(EDGE_STAMP)
	@$(EDGE_VENV)/bin/python -c 'import sys, numpy; print(f"edge target: Python {sys.version.split()[0]}, numpy {numpy.__version__}, no torch")'
	$(EDGE_VENV)/bin/python -m pytest -q -p no:cacheprovider -m edge $(EDGE_TEST_FILES)

native: | system-deps
	$(CMAKE) -S . -B $(NATIVE_BUILD) $(NATIVE_GENERATOR) -DCMAKE_BUILD_TYPE=Release $(NATIVE_CMAKE_ARGS)
	$(CMAKE) --build $(NATIVE_BUILD) --parallel
	$(CTEST) --test-dir $(NATIVE_BUILD) --output-on-failure

# Compiles the TensorRT runner against a TensorRT header set without its libraries (no linking), e.g. the
# include/ of a release branch of github.com/NVIDIA/TensorRT: make native-trt-check TRT_HEADERS=/tmp/trt/include
native-trt-check: | system-deps
	@test -n "$(TRT_HEADERS)" || { echo "usage: make native-trt-check TRT_HEADERS=<directory with NvInfer.h>"; exit 2; }
	$(CMAKE) -S . -B build/native-trt-check $(if $(wildcard build/native-trt-check/CMakeCache.txt),,$(if $(shell command -v ninja 2>/dev/null),-G Ninja)) \
		-DAMF_EDGE_TRT_COMPILE_ONLY=ON -DTensorRT_INCLUDE_DIR=$(abspath $(TRT_HEADERS)) -DBUILD_TESTING=OFF $(NATIVE_CMAKE_ARGS)
	$(CMAKE) --build build/native-trt-check --target amf_edge_trt_check --parallel

# docs/benchmarks.md's inference tables, measured on this machine (about 20 minutes on 2 cores)
benchmarks: setup
	$(BIN)/python -m experiments.cpu

# On a machine with an NVIDIA GPU and PyTorch with CUDA: the gpu-marked tests, the native part built with CUDA
# (build/native-cuda) and its ctest, r18/r34 timed in PyTorch; rewrites docs/benchmarks.md's GPU section (a few
# minutes). Installs nothing, so it runs on a GPU machine's own Python: .venv's where there is one, else $(PYTHON),
# or GPU_PYTHON=... Without a GPU it says so in one line and fails (the script's exit status 2).
GPU_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
GPU_CHECK_ARGS ?=
gpu-check:
	NATIVE_CMAKE_ARGS='$(NATIVE_CMAKE_ARGS)' $(GPU_PYTHON) -m experiments.gpu_check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) $(EDGE_VENV) $(MODELOPT_VENV) build *.egg-info
