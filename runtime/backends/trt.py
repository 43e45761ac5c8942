"""TensorRT engines built by `amf-edge build`, behind the Backend interface.

`TensorRTBackend("model.engine")` reads the bundle's sidecar (amf_edge.bundle: the model contract, and
a clear error when the engine was built for another GPU or TensorRT version), deserializes the engine
and addresses its tensors by name only (num_io_tensors, get_tensor_name/mode/shape/dtype; TensorRT 10
removed binding indices). CUDA goes through runtime/cuda.py (pycuda or cuda-python).

Buffers are allocated once: for each of two input slots, pinned host and device buffers for rgb and
depth; one device buffer per output, and pinned host outputs per slot. One execution context runs on a
compute stream; uploads go on a copy stream. `submit` stages the frame into the next slot, enqueues its
upload, the inference (after an event says the upload is done) and the download, and returns at once;
`collect` waits for that frame's download. With `max_in_flight=2` a caller may submit frame N+1 before
collecting frame N: its upload then overlaps frame N's compute. The default, 1, is base.py's contract
(submit twice without collect is an error).

Every inference is timed on the device: timing events before the upload, at the start and end of the
compute and after the download give `device_timing_ms()` (upload, compute, download) of the frame last
collected, which `amf-edge bench` and the pipeline's stage times report. The device memory the engine
and its buffers took is `device_memory_bytes` (free memory before and after loading).

`cuda_graph=True` captures each slot's `execute_async_v3` in a CUDA graph once (after one warm-up
run, which TensorRT needs before capture) and launches the graph instead: less CPU per frame.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amf_edge.bundle import load_bundle
from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.backends.base import Backend
from amf_edge.runtime.cuda import Cuda, open_cuda

INPUTS = ("rgb", "depth")


@dataclass
class _Slot:
    """One frame's worth of input and output buffers, reused every other frame."""

    host_in: dict[str, np.ndarray]
    device_in: dict[str, int]
    host_out: dict[str, np.ndarray]
    start: object  # timing events: on the copy stream before the upload,
    uploaded: object  # ... after it,
    started: object  # on the compute stream once it may start (the upload is done, the previous frame computed),
    computed: object  # ... after the inference,
    done: object  # ... after the download
    graph: object | None = None


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, path: str | Path, *, cuda_graph: bool = False, max_in_flight: int = 1, cuda: Cuda | None = None):
        """
        Args:
            path: the engine file; its sidecar `path + ".json"` must be beside it.
            cuda_graph: launch each inference as a captured CUDA graph (needs cuda-python).
            max_in_flight: 1 (base.py's contract) or 2 (submit frame N+1 before collecting frame N).
            cuda: an amf_edge.runtime.cuda implementation (the backend closes it); None picks one for this machine.
        """
        if max_in_flight not in (1, 2):
            raise AmfEdgeError(f"max_in_flight must be 1 or 2 (two input slots), got {max_in_flight}")
        trt = require_module("tensorrt", "running TensorRT engines")
        self.cuda = cuda if cuda is not None else open_cuda()
        self.max_in_flight, self.cuda_graph = max_in_flight, cuda_graph
        self._context = None
        try:
            self._open(trt, Path(path))
        except BaseException:
            self.close()
            raise

    def _open(self, trt, path: Path) -> None:
        cuda = self.cuda
        self.device = cuda.device()
        free_before = cuda.memory_info()[0]
        self.bundle = load_bundle(path, tensorrt_version=trt.__version__, device=self.device)
        super().__init__(ModelContract.from_metadata(self.bundle.metadata))
        if self.cuda_graph and not cuda.supports_graphs:
            raise cuda.no_graphs_error()
        self.tensorrt_version = trt.__version__
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        plan = path.read_bytes()
        if hashlib.sha256(plan).hexdigest() != self.bundle.engine_sha256:
            raise AmfEdgeError(f"{path} is not the engine its sidecar describes (replaced or damaged after the build); "
                               f"rebuild it: `{self.bundle.rebuild_command()} --force`")
        if self.bundle.options.get("version_compatible"):
            # A version-compatible plan carries TensorRT's lean runtime (host code), which TensorRT runs only when
            # told to trust the plan; this one is what amf-edge build wrote, as its sha256 just showed.
            self._runtime.engine_host_code_allowed = True
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:
            raise AmfEdgeError(f"TensorRT {trt.__version__} could not load {path} (its log above says why); "
                               f"rebuild it: `{self.bundle.rebuild_command()} --force`")
        self._context = self._engine.create_execution_context()
        self.inputs, self.outputs = self._io(trt, self._engine)
        self._check_io(path)

        self._compute, self._copy = cuda.stream(), cuda.stream()
        self._device_out = {name: cuda.malloc(_nbytes(*spec)) for name, spec in self.outputs.items()}
        for name, ptr in self._device_out.items():
            self._bind(name, ptr)
        self._slots = [self._new_slot() for _ in range(2)]
        self._next = 0
        self._pending: deque[_Slot] = deque()
        if self.cuda_graph:
            for slot in self._slots:
                self._capture(slot)
        # other processes allocate too: an estimate, good to the engine's scale
        self._device_memory = max(0, free_before - cuda.memory_info()[0])
        self._timing: dict[str, float] | None = None

    @staticmethod
    def _io(trt, engine) -> tuple[dict, dict]:
        """{name: (shape, numpy dtype)} for the engine's inputs and outputs, by name."""
        dtypes = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.INT8: np.int8,
                  trt.DataType.UINT8: np.uint8, trt.DataType.INT32: np.int32, trt.DataType.INT64: np.int64,
                  trt.DataType.BOOL: np.bool_}
        inputs, outputs = {}, {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = engine.get_tensor_dtype(name)
            if dtype not in dtypes:
                raise AmfEdgeError(f"engine tensor {name!r} has type {dtype}, which amf-edge does not exchange "
                                   "with the host; build the engine from an amf-edge ONNX")
            spec = (tuple(engine.get_tensor_shape(name)), np.dtype(dtypes[dtype]))
            (inputs if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outputs)[name] = spec
        return inputs, outputs

    def _check_io(self, path: Path) -> None:
        c = self.contract
        expected = {"rgb": ((1, c.height, c.width, 3), np.dtype(np.uint8)),
                    "depth": ((1, c.height, c.width), np.dtype(np.float32))}
        problems = []
        if set(self.inputs) != set(INPUTS):
            problems.append(f"inputs {sorted(self.inputs)}, expected {list(INPUTS)}")
        problems += [f"{name} is {spec[1].name} {spec[0]}, its contract says {want[1].name} {want[0]}"
                     for name, spec in self.inputs.items() if (want := expected.get(name)) and spec != want]
        missing = [o for o in c.outputs if o not in self.outputs]
        if missing:
            problems.append(f"outputs {sorted(self.outputs)} lack {missing}")
        dynamic = [n for n, (shape, _) in {**self.inputs, **self.outputs}.items() if any(d < 0 for d in shape)]
        if dynamic:
            problems.append(f"dynamic shapes in {dynamic} (amf-edge exports fixed shapes)")
        if problems:
            raise AmfEdgeError(f"{path} does not match its sidecar's model contract: {'; '.join(problems)}; "
                               f"rebuild it: `{self.bundle.rebuild_command()} --force`")

    def _bind(self, name: str, ptr: int) -> None:
        if not self._context.set_tensor_address(name, ptr):
            raise AmfEdgeError(f"TensorRT rejected the buffer for {name!r} (its log above says why)")

    def _new_slot(self) -> _Slot:
        cuda = self.cuda
        return _Slot(
            host_in={n: cuda.pinned(*spec) for n, spec in self.inputs.items()},
            device_in={n: cuda.malloc(_nbytes(*spec)) for n, spec in self.inputs.items()},
            host_out={n: cuda.pinned(*spec) for n, spec in self.outputs.items()},
            start=cuda.event(timing=True), uploaded=cuda.event(timing=True), started=cuda.event(timing=True),
            computed=cuda.event(timing=True), done=cuda.event(timing=True),
        )

    def _enqueue(self, slot: _Slot) -> None:
        for name, ptr in slot.device_in.items():
            self._bind(name, ptr)
        if not self._context.execute_async_v3(self.cuda.stream_handle(self._compute)):
            raise AmfEdgeError("TensorRT could not enqueue the inference (its log above says why)")

    def _capture(self, slot: _Slot) -> None:
        # TensorRT must run once outside capture: the first enqueue may allocate and set things up
        self._enqueue(slot)
        self.cuda.record(slot.done, self._compute)
        self.cuda.synchronize(slot.done)
        self.cuda.begin_capture(self._compute)
        try:
            self._enqueue(slot)
        except BaseException:
            # leave capture mode; the enqueue's error is the one to report
            with contextlib.suppress(Exception):
                self.cuda.end_capture(self._compute)
            raise
        try:
            slot.graph = self.cuda.end_capture(self._compute)
        except AmfEdgeError as e:
            raise AmfEdgeError(f"this engine cannot run as a CUDA graph ({e}); run it without CUDA graphs") from None

    def submit(self, inputs: dict[str, np.ndarray]) -> None:
        if len(self._pending) >= self.max_in_flight:
            raise AmfEdgeError(f"submit() with {len(self._pending)} inference(s) not yet collected (max_in_flight="
                               f"{self.max_in_flight}); call collect() first")
        if set(inputs) != set(self.inputs):
            raise AmfEdgeError(f"expected inputs {sorted(self.inputs)}, got {sorted(inputs)}")
        for name, array in inputs.items():
            shape, dtype = self.inputs[name]
            if array.shape != shape or array.dtype != dtype:
                raise AmfEdgeError(f"{name}: expected {dtype.name} {shape}, got {array.dtype} {array.shape}; "
                                   "ModelContract.inputs(sample) makes the right arrays")
        cuda, slot = self.cuda, self._slots[self._next]
        self._next ^= 1
        for name, array in inputs.items():
            np.copyto(slot.host_in[name], array)
        cuda.record(slot.start, self._copy)
        for name in inputs:
            cuda.copy_to_device(slot.device_in[name], slot.host_in[name], self._copy)
        cuda.record(slot.uploaded, self._copy)
        cuda.wait(self._compute, slot.uploaded)
        cuda.record(slot.started, self._compute)
        if slot.graph is not None:
            cuda.launch(slot.graph, self._compute)
        else:
            self._enqueue(slot)
        cuda.record(slot.computed, self._compute)
        for name, ptr in self._device_out.items():
            cuda.copy_to_host(slot.host_out[name], ptr, self._compute)
        cuda.record(slot.done, self._compute)
        self._pending.append(slot)

    def collect(self) -> dict[str, np.ndarray]:
        if not self._pending:
            raise AmfEdgeError("collect() without a submit() in flight")
        slot = self._pending.popleft()
        cuda = self.cuda
        cuda.synchronize(slot.done)
        self._timing = {"upload": cuda.elapsed_ms(slot.start, slot.uploaded),
                        "compute": cuda.elapsed_ms(slot.started, slot.computed),
                        "download": cuda.elapsed_ms(slot.computed, slot.done),
                        "latency": cuda.elapsed_ms(slot.start, slot.done)}  # as trtexec's Latency: with the waits
        # copies: the pinned buffers are reused two frames later
        return {name: slot.host_out[name].copy() for name in self.contract.outputs}

    def device_timing_ms(self) -> dict[str, float] | None:
        return self._timing

    @property
    def device_memory_bytes(self) -> int | None:
        return self._device_memory

    def describe(self) -> dict:
        return {**super().describe(), "tensorrt": self.tensorrt_version, "device": self.device.name,
                "compute_capability": self.device.compute_capability, "cuda": self.cuda.name,
                "cuda_graph": self.cuda_graph, "engine": str(self.bundle.engine_path)}

    def close(self) -> None:
        if getattr(self, "_pending", None):
            for slot in self._pending:
                self.cuda.synchronize(slot.done)  # no freeing under a running inference
            self._pending.clear()
        # TensorRT objects before the memory they point at, the context before its engine
        self._context = self._engine = self._runtime = None
        if self.cuda is not None:
            self.cuda.close()
            self.cuda = None


def _nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
