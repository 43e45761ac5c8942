"""ONNX Runtime backend: an `amf-edge export` model on the CPU, or on CUDA with onnxruntime-gpu."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import numpy as np

from amf_edge.contract import ModelContract, decode_metadata
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.backends.base import SynchronousBackend

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
# ONNX Runtime's type strings for the contract's input dtypes.
_INPUT_TYPES = {"rgb": "tensor(uint8)", "depth": "tensor(float)"}


class OnnxRuntimeBackend(SynchronousBackend):
    """One `onnxruntime.InferenceSession`; inputs and outputs by name, the contract from the metadata.

    ONNX Runtime's `run` is synchronous, so `submit` computes and `collect` hands the result over.
    """

    name = "ort"

    def __init__(self, path: str | Path, *, device: str = "auto", threads: int | None = None):
        ort = require_module("onnxruntime", "the ONNX Runtime backend")
        self.path = Path(path)
        providers = _providers(ort, device)
        options = session_options(ort, threads)
        state = ort.capi.onnxruntime_pybind11_state
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except (state.InvalidProtobuf, state.InvalidGraph, state.Fail, state.NoSuchFile, state.InvalidArgument,
                state.NotImplemented) as e:
            raise AmfEdgeError(f"ONNX Runtime cannot load {self.path} ({str(e).strip()}); expected an ONNX model "
                               "written by `amf-edge export`") from None
        running = self.session.get_providers()
        if device.startswith("cuda") and running[0] != CUDA:
            # ORT falls back to the CPU (with a log line) when the CUDA libraries fail to load.
            raise AmfEdgeError(f"--device {device}: ONNX Runtime could not start its CUDA provider "
                               f"(running {running}); check the CUDA/cuDNN libraries onnxruntime-gpu needs, "
                               "or use --device cpu")
        meta = self.session.get_modelmeta().custom_metadata_map
        super().__init__(ModelContract.from_metadata(decode_metadata(meta, str(self.path))))
        self._check_io()
        self.threads = threads

    def _check_io(self) -> None:
        c = self.contract
        expected = {"rgb": [1, c.height, c.width, 3], "depth": [1, c.height, c.width]}
        declared = {i.name: (i.type, i.shape) for i in self.session.get_inputs()}
        problems = [name for name in expected if name not in declared
                    or declared[name][0] != _INPUT_TYPES[name]
                    or (not c.dynamic and declared[name][1] != expected[name])]
        if problems or set(declared) != set(expected):
            raise AmfEdgeError(
                f"{self.path} declares inputs {declared}, but its metadata promises rgb uint8 "
                f"1×{c.height}×{c.width}×3 and depth float32 1×{c.height}×{c.width}; the file was changed after "
                "`amf-edge export`: export it again"
            )
        names = [o.name for o in self.session.get_outputs()]
        missing = [n for n in c.outputs if n not in names]
        if missing:
            raise AmfEdgeError(f"{self.path} lacks the outputs {missing} its metadata lists (it has {names}); "
                               "export it again")
        self._output_names = list(c.outputs)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self.session.run(self._output_names, {"rgb": inputs["rgb"], "depth": inputs["depth"]})
        return dict(zip(self._output_names, values))

    def describe(self) -> dict:
        ort = require_module("onnxruntime")
        provider = self.session.get_providers()[0]
        return {
            **super().describe(),
            "model": str(self.path),
            "device": "cuda" if provider == CUDA else "cpu",
            "provider": provider,
            "threads": self.threads or "default",
            "onnxruntime": ort.__version__,
        }

    def close(self) -> None:
        self.session = None  # the session frees its memory when the last reference goes


def session_options(ort, threads: int | None = None, *, spinning: bool = True):
    """The runtime's session settings (the bench's experiments time other models with the same ones)."""
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    # One inference at a time per session: inter-op parallelism only adds threads competing
    # with capture and output on small boards.
    options.inter_op_num_threads = 1
    # Threads that spin between operators (ONNX Runtime's default) were feared to take the cores from capture and
    # sinks; measured on 2 cores with video, masks and preview sinks at 30 FPS (r18 240×320), spinning made the
    # frames' end-to-end p50 6 % shorter and dropped fewer of them (python -m experiments.spinning).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if saturating_int8_host():
        # int8-cpu models: ONNX Runtime's fused u8×s8 kernels on x86 without VNNI add pairs of products in 16-bit
        # registers, which saturate (tens of mIoU points on a trained model); this entry makes them accumulate in
        # 32 bits, as VNNI hosts and TensorRT do. Only there: on a VNNI host it would take the slow path for
        # nothing (3× slower int8-cpu, docs/benchmarks.md). Float models are unaffected either way.
        options.add_session_config_entry("session.x64quantprecision", "1")
    return options


def saturating_int8_host(cpuinfo: str | None = None) -> bool:
    """Whether this CPU is x86 without VNNI (AVX512-VNNI, AVX-VNNI or AMX), where ONNX Runtime's int8 kernels
    saturate by default. Other architectures (Arm: Jetson) accumulate in 32 bits. An x86 CPU whose features
    cannot be read counts as saturating: the exact path is slower, never wrong."""
    if cpuinfo is None:
        if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
            return False
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return True
    return re.search(r"\b(avx512_vnni|avx_vnni|amx_int8)\b", cpuinfo) is None


def _providers(ort, device: str) -> list:
    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "auto":
        return [CUDA, CPU] if CUDA in available else [CPU]
    if CUDA not in available:
        raise AmfEdgeError(f"--device {device}: this onnxruntime has no CUDA provider (it has {', '.join(available)}); "
                           "pip install onnxruntime-gpu, or use --device cpu")
    index = device.partition(":")[2]
    if index and not index.isdigit():
        raise AmfEdgeError(f"unknown device {device!r}; expected cuda or cuda:N with N a GPU number")
    return [(CUDA, {"device_id": int(index or 0)}), CPU]
