"""Optional heavy dependencies, imported where they are used, with an install hint when missing.

Each optional module belongs to an extra of pyproject.toml; the hint names the `pip install "amf-edge[EXTRA]"`
that brings it, so a command run without its extra says what to install instead of printing a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from amf_edge.errors import AmfEdgeError

# import name → (extra, what to install where no extra brings it)
EXTRAS = {
    "torch": ("train", None),
    "tensorboard": ("train", None),
    "onnx": ("runtime", None),
    "onnxruntime": ("runtime", None),
    "cv2": ("runtime", None),
    "av": ("runtime", None),  # PyAV: H.264 video
    "yaml": ("runtime", None),
    "tqdm": ("runtime", None),
    "onnxscript": ("convert", None),
    "onnxslim": ("convert", None),
    "onnx_graphsurgeon": ("convert", None),
    "polygraphy": ("convert", None),
    "matplotlib": ("bench", None),
    "pyrealsense2": ("realsense", None),
    "rosbags": ("ros", None),
    "cuda": ("trt", None),
    "pycuda": ("trt", "pycuda"),
    "tensorrt": (None, "pip install tensorrt (on Jetson it comes with JetPack: sudo apt install python3-libnvinfer)"),
}


def install_hint(module: str) -> str:
    """How to get the top-level module `module`, e.g. 'pip install "amf-edge[train]"'."""
    extra, other = EXTRAS.get(module.split(".")[0], (None, None))
    if other:
        return other if extra is None else f'pip install "amf-edge[{extra}]" or {other}'
    return f'pip install "amf-edge[{extra}]"' if extra else f"pip install {module.split('.')[0]}"


def missing_module_message(error: ModuleNotFoundError, what: str = "this", extras: str | None = None) -> str:
    """The one line for a missing optional module; `extras` (e.g. "train,convert") are the extras of the command
    that needs it, which bring everything the command uses, not only this module."""
    name = (error.name or str(error)).split(".")[0]
    extra, _ = EXTRAS.get(name, (None, None))
    hint = f'pip install "amf-edge[{extras}]"' if extras and extra else install_hint(name)
    return f"{what} needs the Python module {name!r}, which is not installed: {hint}"


def require_module(name: str, why: str = "") -> ModuleType:
    """Import `name` or raise AmfEdgeError saying which extra to install."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and not name.startswith(e.name.split(".")[0]):
            raise  # a dependency of `name` itself is missing: a broken install, not a missing extra
        purpose = f" ({why})" if why else ""
        raise AmfEdgeError(f"this needs the Python module {name!r}{purpose}: {install_hint(name)}") from None
