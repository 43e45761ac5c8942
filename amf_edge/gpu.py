"""Which CUDA GPU this is: `Device` (name, compute capability, integrated or not), asked through pycuda or
cuda-python (`query_device`), and which of the two bindings to use (`cuda_binding`, $AMF_EDGE_CUDA).

Engine bundles record the `Device` they were built for (amf_edge.bundle); the runtime's CUDA layer
(amf_edge.runtime.cuda) opens the binding `cuda_binding` chooses. Standard library only: the bindings
import lazily, inside the functions, so this module imports on machines without either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from amf_edge.errors import AmfEdgeError

CUDA_BINDINGS = ("pycuda", "cuda-python")


@dataclass(frozen=True)
class Device:
    """The GPU an engine is built for or runs on."""

    name: str
    compute_capability: str  # "8.7"
    integrated: bool = False  # Jetson (shares memory with the CPU)

    def describe(self) -> str:
        return f"{self.name} (compute capability {self.compute_capability})"

    @property
    def cc(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)


def query_device(binding: str | None = None, index: int = 0) -> Device:
    """The CUDA device `index` (after CUDA_VISIBLE_DEVICES), asked through pycuda or cuda-python.

    `binding` names one of CUDA_BINDINGS; None takes the first that imports (the order of
    `amf_edge.runtime.cuda.open_cuda`). Raises AmfEdgeError when neither is installed or no driver/GPU answers.
    """
    from amf_edge.lazy import require_module

    if binding is None:
        binding = cuda_binding()
    if binding == "pycuda":
        drv = require_module("pycuda.driver", "asking CUDA which GPU this is")
        try:
            drv.init()
            dev = drv.Device(index)
            major, minor = dev.compute_capability()
            return Device(dev.name(), f"{major}.{minor}", bool(dev.get_attribute(drv.device_attribute.INTEGRATED)))
        except drv.Error as e:
            raise AmfEdgeError(f"CUDA (pycuda) found no usable GPU {index}: {e}; this needs an NVIDIA GPU and its "
                               "driver") from None
    if binding == "cuda-python":
        rt = cuda_python_runtime()
        err, prop = rt.cudaGetDeviceProperties(index)
        if int(err) != 0:
            raise AmfEdgeError(f"CUDA (cuda-python) found no usable GPU {index}: {_cuda_python_error(rt, err)}; "
                               "this needs an NVIDIA GPU and its driver")
        name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
        return Device(name.rstrip("\x00"), f"{prop.major}.{prop.minor}", bool(prop.integrated))
    raise AmfEdgeError(f"unknown CUDA binding {binding!r}: expected one of {', '.join(CUDA_BINDINGS)}")


def cuda_binding() -> str:
    """Which CUDA binding to use: $AMF_EDGE_CUDA when set, else pycuda when installed, else cuda-python."""
    import importlib.util

    forced = os.environ.get("AMF_EDGE_CUDA")
    if forced:
        if forced not in CUDA_BINDINGS:
            raise AmfEdgeError(f"AMF_EDGE_CUDA={forced!r}: expected one of {', '.join(CUDA_BINDINGS)}")
        return forced
    # find_spec on the top-level package only: pycuda.driver itself fails to import without a driver,
    # and that failure must surface as an error, not as a quiet switch to the other binding.
    for binding, package in (("pycuda", "pycuda"), ("cuda-python", "cuda")):
        if importlib.util.find_spec(package) is not None:
            return binding
    raise AmfEdgeError("TensorRT engines need a CUDA binding for Python: pip install cuda-python (or pycuda, which "
                       "compiles against the CUDA toolkit)")


def cuda_python_runtime():
    """cuda-python's runtime module: cuda.bindings.runtime since 12.6, cuda.cudart before (same API)."""
    import importlib

    for name in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise AmfEdgeError("this needs cuda-python's CUDA runtime bindings: pip install cuda-python")


def _cuda_python_error(rt, err) -> str:
    _, name = rt.cudaGetErrorName(err)
    return name.decode() if isinstance(name, bytes) else str(name)
