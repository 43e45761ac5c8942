"""Which GPU this is: the device query through either CUDA binding, and how the binding is chosen (no GPU
needed: the bindings are faked)."""

from __future__ import annotations

import sys
import types

import pytest

from amf_edge import gpu as G
from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import Device

ORIN = Device("NVIDIA Jetson AGX Orin", "8.7", integrated=True)
RTX_4090 = Device("NVIDIA GeForce RTX 4090", "8.9")


def fake_pycuda(monkeypatch, *, error: str | None = None):
    class Error(Exception):
        pass

    class Device:
        def __init__(self, index):
            if error:
                raise Error(error)

        def name(self):
            return "NVIDIA Jetson AGX Orin"

        def compute_capability(self):
            return (8, 7)

        def get_attribute(self, attr):
            return 1 if attr == "INTEGRATED" else 0

    driver = types.SimpleNamespace(init=lambda: None, Device=Device, Error=Error,
                                   device_attribute=types.SimpleNamespace(INTEGRATED="INTEGRATED"))
    monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)


def fake_cuda_python(monkeypatch, *, err: int = 0):
    prop = types.SimpleNamespace(name=b"NVIDIA GeForce RTX 4090\x00", major=8, minor=9, integrated=0)
    rt = types.SimpleNamespace(
        cudaGetDeviceProperties=lambda index: (err, prop if err == 0 else None),
        cudaGetErrorName=lambda e: (0, b"cudaErrorInsufficientDriver"),
    )
    monkeypatch.setattr(G, "cuda_python_runtime", lambda: rt)


def test_query_device_through_either_binding(monkeypatch):
    fake_pycuda(monkeypatch)
    assert G.query_device("pycuda") == ORIN
    fake_cuda_python(monkeypatch)
    assert G.query_device("cuda-python") == RTX_4090
    fake_cuda_python(monkeypatch, err=35)
    with pytest.raises(AmfEdgeError, match="no usable GPU 0: cudaErrorInsufficientDriver; this needs an NVIDIA GPU"):
        G.query_device("cuda-python")
    fake_pycuda(monkeypatch, error="cuInit failed: no CUDA-capable device is detected")
    with pytest.raises(AmfEdgeError, match="CUDA \\(pycuda\\) found no usable GPU 0: cuInit failed"):
        G.query_device("pycuda")
    with pytest.raises(AmfEdgeError, match="unknown CUDA binding 'cupy'"):
        G.query_device("cupy")


def test_the_binding_is_chosen_automatically_or_by_environment(monkeypatch):
    monkeypatch.delenv("AMF_EDGE_CUDA", raising=False)
    found = {"pycuda": None, "cuda": None}
    monkeypatch.setattr("importlib.util.find_spec", lambda name: found.get(name))
    with pytest.raises(AmfEdgeError, match="pip install cuda-python"):
        G.cuda_binding()
    found["cuda"] = object()
    assert G.cuda_binding() == "cuda-python"
    found["pycuda"] = object()
    assert G.cuda_binding() == "pycuda"  # what users asked for comes first
    monkeypatch.setenv("AMF_EDGE_CUDA", "cuda-python")
    assert G.cuda_binding() == "cuda-python"
    monkeypatch.setenv("AMF_EDGE_CUDA", "cupy")
    with pytest.raises(AmfEdgeError, match="AMF_EDGE_CUDA='cupy': expected one of pycuda, cuda-python"):
        G.cuda_binding()
