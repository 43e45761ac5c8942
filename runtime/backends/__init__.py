"""Inference backends behind one interface (`Backend`), chosen from the model file.

| backend | model file                                  | runs on                  |
|---------|---------------------------------------------|--------------------------|
| `ort`   | `.onnx` from `amf-edge export`              | CPU, or CUDA where the onnxruntime-gpu provider is installed |
| `trt`   | `.engine` TensorRT bundle (+ sidecar `.json`) | the GPU it was built for |
| `torch` | `.pt` amf-edge checkpoint (reference)       | CPU or CUDA              |

`open_backend(path)` picks the backend from the file's suffix; naming another backend than the file
needs is an error rather than a conversion behind the user's back.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.backends.base import Backend

# name → "module:Class"; modules import lazily so that a missing optional package (onnxruntime,
# tensorrt, torch) only matters for the backend that needs it.
BACKENDS = {
    "ort": "amf_edge.runtime.backends.ort:OnnxRuntimeBackend",
    "trt": "amf_edge.runtime.backends.trt:TensorRTBackend",
    "torch": "amf_edge.runtime.backends.torch:TorchBackend",
}
SUFFIXES = {".onnx": "ort", ".engine": "trt", ".pt": "torch"}
DEVICES = ("auto", "cpu", "cuda")
_WHAT = {"ort": "an ONNX model (.onnx)", "trt": "a TensorRT engine bundle (.engine with its .json)",
         "torch": "an amf-edge checkpoint (.pt)"}


def backend_for(path: str | Path) -> str:
    """The backend a model file needs, from its suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise AmfEdgeError(
            f"{path}: cannot tell the model format from the suffix {suffix or '(none)'!r}; expected "
            + ", ".join(f"{s} ({_WHAT[b]})" for s, b in SUFFIXES.items())
        )
    return SUFFIXES[suffix]


def open_backend(path: str | Path, backend: str = "auto", *, device: str = "auto", threads: int | None = None,
                 outputs: tuple[str, ...] | None = None, cuda_graph: bool = False) -> Backend:
    """Load a model into the backend its file format needs.

    Args:
        path: `.onnx` (ONNX Runtime), `.engine` (TensorRT bundle) or `.pt` (PyTorch reference).
        backend: "auto" (from the suffix) or one of BACKENDS; it must agree with the file.
        device: "auto" (the GPU where the backend can use one, else the CPU), "cpu", "cuda" or "cuda:N".
        threads: CPU threads for one inference (ONNX Runtime intra-op, PyTorch); None = the library default.
        outputs: the outputs to compute, for checkpoints only (an exported model's outputs are fixed
            in its graph); None = labels only.
        cuda_graph: launch each inference as a captured CUDA graph (TensorRT engines only).

    Raises:
        AmfEdgeError: a missing file, an unknown suffix, a backend that does not run this file,
            a device or option the backend cannot honour, or a missing optional package.
    """
    path = Path(path)
    if backend != "auto" and backend not in BACKENDS:
        raise AmfEdgeError(f"unknown backend {backend!r}; expected auto, {', '.join(BACKENDS)}")
    if not path.is_file():
        raise AmfEdgeError(f"model {path} does not exist; expected {', '.join(_WHAT.values())}")
    needed = backend_for(path)
    if backend not in ("auto", needed):
        raise AmfEdgeError(
            f"--backend {backend} runs {_WHAT[backend]}, but {path} is {_WHAT[needed]}; "
            f"use --backend {needed} (or auto)"
            + (", or build a TensorRT engine from the ONNX file first" if backend == "trt" and needed == "ort" else "")
        )
    if device != "auto" and device != "cpu" and not device.startswith("cuda"):
        raise AmfEdgeError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N")
    if threads is not None and threads < 1:
        raise AmfEdgeError(f"threads must be at least 1, got {threads}")
    if outputs is not None and needed != "torch":
        raise AmfEdgeError(f"{path}: the outputs of {_WHAT[needed]} are fixed when it is built; "
                           "re-export it with `amf-edge export --outputs ...` to change them")
    if cuda_graph and needed != "trt":
        raise AmfEdgeError(f"{path}: CUDA graphs are for TensorRT engines; {_WHAT[needed]} runs without them")
    cls = _backend_class(needed)
    if needed == "trt":
        # TensorRT takes no thread count and never runs on the CPU: saying so beats ignoring the option.
        if device == "cpu":
            raise AmfEdgeError(f"{path} is a TensorRT engine, which runs only on the GPU; drop --device cpu "
                               "or run the .onnx model with --backend ort on the CPU")
        if threads is not None:
            raise AmfEdgeError("--threads sets CPU threads for ONNX Runtime and PyTorch; TensorRT has none, drop it")
        return cls(path, cuda_graph=cuda_graph)
    if needed == "torch":
        return cls(path, device=device, threads=threads, outputs=outputs)  # None: the export's default
    return cls(path, device=device, threads=threads)


def _backend_class(name: str) -> type[Backend]:
    module_name, class_name = BACKENDS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise AmfEdgeError(f"the {name} backend ({module_name}) is not part of this amf-edge installation; "
                               "update amf-edge or use another model format") from None
        if name == "trt" and (e.name or "").split(".")[0] in ("tensorrt", "cuda", "pycuda"):
            raise AmfEdgeError(f"the TensorRT backend needs the Python module {e.name!r}, which is not installed: on "
                               "Jetson it comes with JetPack (python3-libnvinfer), "
                               "elsewhere pip install tensorrt") from None
        raise
    cls = getattr(module, class_name, None)
    if cls is None:
        raise AmfEdgeError(f"{module_name} has no {class_name}; this amf-edge installation is incomplete, reinstall it")
    return cls


__all__ = ["BACKENDS", "Backend", "SUFFIXES", "backend_for", "open_backend"]
