"""CUDA for the TensorRT backend: device memory, pinned host memory, streams, events, copies, graphs.

Two implementations behind one small interface (`Cuda`):

- `PyCuda`: pycuda, what users asked for. It compiles against the CUDA toolkit and libcuda, so it is
  often missing (it does not build on driverless CI machines); it has no stream capture, so no graphs.
- `CudaPython`: NVIDIA's cuda-python (`cuda.bindings.runtime`, `cuda.cudart` before 12.6), a binary
  wheel that installs anywhere and imports without a driver; TensorRT's own samples use it.

`open_cuda()` picks pycuda when it is installed, else cuda-python; `AMF_EDGE_CUDA=pycuda|cuda-python`
forces one (`amf_edge.gpu.cuda_binding`). Both import lazily, inside the implementation, so this
module imports on machines without either. Streams, events and graphs are opaque objects of the
binding; device pointers are ints, as TensorRT takes them.
"""

from __future__ import annotations

import abc
import ctypes
import math

import numpy as np

from amf_edge import gpu
from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import Device, cuda_binding, cuda_python_runtime
from amf_edge.lazy import require_module


class Cuda(abc.ABC):
    """What the TensorRT backend needs from CUDA; everything allocated through it is freed by `close`."""

    name: str = "?"
    supports_graphs: bool = False

    @abc.abstractmethod
    def device(self) -> Device: ...

    @abc.abstractmethod
    def malloc(self, nbytes: int) -> int:
        """Device memory; returns the device pointer."""

    @abc.abstractmethod
    def pinned(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A page-locked host array (asynchronous copies need pinned memory to be asynchronous)."""

    @abc.abstractmethod
    def stream(self) -> object: ...

    @abc.abstractmethod
    def stream_handle(self, stream: object) -> int:
        """The cudaStream_t as an int, for `IExecutionContext.execute_async_v3`."""

    @abc.abstractmethod
    def event(self, timing: bool = False) -> object:
        """An event; `timing=True` lets `elapsed_ms` measure between two (a little more costly to record)."""

    @abc.abstractmethod
    def elapsed_ms(self, start: object, end: object) -> float:
        """GPU milliseconds between two recorded, completed timing events."""

    @abc.abstractmethod
    def memory_info(self) -> tuple[int, int]:
        """(free, total) bytes of device memory."""

    @abc.abstractmethod
    def copy_to_device(self, dst: int, src: np.ndarray, stream: object) -> None: ...

    @abc.abstractmethod
    def copy_to_host(self, dst: np.ndarray, src: int, stream: object) -> None: ...

    @abc.abstractmethod
    def record(self, event: object, stream: object) -> None: ...

    @abc.abstractmethod
    def wait(self, stream: object, event: object) -> None:
        """Make `stream` wait (on the GPU, not the host) until `event` has happened."""

    @abc.abstractmethod
    def synchronize(self, event: object) -> None:
        """Block the host until `event` has happened."""

    def no_graphs_error(self) -> AmfEdgeError:
        return AmfEdgeError(f"CUDA graphs need stream capture, which {self.name} lacks: pip install cuda-python and "
                            "set AMF_EDGE_CUDA=cuda-python, or run without CUDA graphs")

    def begin_capture(self, stream: object) -> None:
        raise self.no_graphs_error()

    def end_capture(self, stream: object) -> object:
        """Stop capturing; returns the instantiated (executable) graph."""
        raise NotImplementedError

    def launch(self, graph: object, stream: object) -> None:
        raise NotImplementedError

    @abc.abstractmethod
    def close(self) -> None: ...


class PyCuda(Cuda):
    name = "pycuda"
    supports_graphs = False  # released pycuda has no stream capture

    def __init__(self) -> None:
        self.drv = require_module("pycuda.driver", "CUDA memory and streams for TensorRT")
        try:
            self.drv.init()
            # TensorRT works in the CUDA runtime's primary context; pycuda must use the same one (a context
            # of its own, as pycuda.autoinit makes, would hold pointers TensorRT cannot use).
            self._context = self.drv.Device(0).retain_primary_context()
            self._context.push()
        except self.drv.Error as e:
            raise AmfEdgeError(f"CUDA (pycuda) found no usable GPU: {e}; this needs an NVIDIA GPU and its "
                               "driver") from None
        self._owned: list = []

    def device(self) -> Device:
        return gpu.query_device("pycuda")  # looked up on the module: a test that replaces it does not leak

    def malloc(self, nbytes: int) -> int:
        allocation = self.drv.mem_alloc(nbytes)
        self._owned.append(allocation)
        return int(allocation)

    def pinned(self, shape, dtype) -> np.ndarray:
        array = self.drv.pagelocked_empty(tuple(shape), np.dtype(dtype))
        self._owned.append(array)
        return array

    def stream(self):
        stream = self.drv.Stream()
        self._owned.append(stream)
        return stream

    def stream_handle(self, stream) -> int:
        return int(stream.handle)

    def event(self, timing: bool = False):
        event = self.drv.Event(0 if timing else self.drv.event_flags.DISABLE_TIMING)
        self._owned.append(event)
        return event

    def elapsed_ms(self, start, end) -> float:
        return float(end.time_since(start))

    def memory_info(self) -> tuple[int, int]:
        free, total = self.drv.mem_get_info()
        return int(free), int(total)

    def copy_to_device(self, dst, src, stream) -> None:
        _contiguous(src)
        self.drv.memcpy_htod_async(dst, src, stream)

    def copy_to_host(self, dst, src, stream) -> None:
        _contiguous(dst)
        self.drv.memcpy_dtoh_async(dst, src, stream)

    def record(self, event, stream) -> None:
        event.record(stream)

    def wait(self, stream, event) -> None:
        stream.wait_for_event(event)

    def synchronize(self, event) -> None:
        event.synchronize()

    def close(self) -> None:
        if self._context is None:
            return
        for obj in reversed(self._owned):
            if isinstance(obj, np.ndarray):
                obj.base.free()  # the HostAllocation behind pagelocked_empty
            elif hasattr(obj, "free"):
                obj.free()
        self._owned.clear()  # streams and events go with their last reference, while the context is current
        self._context.pop()
        self._context = None


class CudaPython(Cuda):
    name = "cuda-python"
    supports_graphs = True

    def __init__(self) -> None:
        self.rt = cuda_python_runtime()
        self._check("cudaSetDevice", self.rt.cudaSetDevice(0))  # fails here, not mid-inference, without a driver
        self._release: list[tuple] = []  # (free function, handle), in allocation order

    def _check(self, what: str, result):
        """cuda-python returns (cudaError_t, *values); a non-zero error becomes an AmfEdgeError."""
        err, *values = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            self.rt.cudaGetLastError()  # reset the thread's sticky-until-read error: the next caller's is its own
            _, name = self.rt.cudaGetErrorName(err)
            name = name.decode() if isinstance(name, bytes) else str(name)
            hint = "; this needs an NVIDIA GPU and its driver" if "Driver" in name or "NoDevice" in name else ""
            raise AmfEdgeError(f"CUDA {what} failed: {name}{hint}")
        return values[0] if len(values) == 1 else values

    def device(self) -> Device:
        return gpu.query_device("cuda-python")

    def malloc(self, nbytes: int) -> int:
        ptr = self._check("cudaMalloc", self.rt.cudaMalloc(nbytes))
        self._release.append((self.rt.cudaFree, ptr))
        return int(ptr)

    def pinned(self, shape, dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = max(1, math.prod(shape) * dtype.itemsize)
        ptr = self._check("cudaMallocHost", self.rt.cudaMallocHost(nbytes))
        self._release.append((self.rt.cudaFreeHost, ptr))
        raw = (ctypes.c_ubyte * nbytes).from_address(int(ptr))
        return np.frombuffer(raw, dtype=np.uint8, count=math.prod(shape) * dtype.itemsize).view(dtype).reshape(shape)

    def stream(self):
        # non-blocking: no implicit synchronisation with the legacy default stream other libraries use
        stream = self._check("cudaStreamCreateWithFlags",
                             self.rt.cudaStreamCreateWithFlags(self.rt.cudaStreamNonBlocking))
        self._release.append((self.rt.cudaStreamDestroy, stream))
        return stream

    def stream_handle(self, stream) -> int:
        return int(stream)

    def event(self, timing: bool = False):
        flags = self.rt.cudaEventDefault if timing else self.rt.cudaEventDisableTiming
        event = self._check("cudaEventCreateWithFlags", self.rt.cudaEventCreateWithFlags(flags))
        self._release.append((self.rt.cudaEventDestroy, event))
        return event

    def elapsed_ms(self, start, end) -> float:
        return float(self._check("cudaEventElapsedTime", self.rt.cudaEventElapsedTime(start, end)))

    def memory_info(self) -> tuple[int, int]:
        free, total = self._check("cudaMemGetInfo", self.rt.cudaMemGetInfo())
        return int(free), int(total)

    def copy_to_device(self, dst, src, stream) -> None:
        _contiguous(src)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(dst, src.ctypes.data, src.nbytes, kind, stream))

    def copy_to_host(self, dst, src, stream) -> None:
        _contiguous(dst)
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check("cudaMemcpyAsync", self.rt.cudaMemcpyAsync(dst.ctypes.data, src, dst.nbytes, kind, stream))

    def record(self, event, stream) -> None:
        self._check("cudaEventRecord", self.rt.cudaEventRecord(event, stream))

    def wait(self, stream, event) -> None:
        self._check("cudaStreamWaitEvent", self.rt.cudaStreamWaitEvent(stream, event, 0))

    def synchronize(self, event) -> None:
        self._check("cudaEventSynchronize", self.rt.cudaEventSynchronize(event))

    def begin_capture(self, stream) -> None:
        # thread-local: a camera thread calling CUDA meanwhile does not invalidate the capture
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._check("cudaStreamBeginCapture", self.rt.cudaStreamBeginCapture(stream, mode))

    def end_capture(self, stream):
        graph = self._check("cudaStreamEndCapture", self.rt.cudaStreamEndCapture(stream))
        try:
            executable = self._check("cudaGraphInstantiate", self.rt.cudaGraphInstantiate(graph, 0))
        finally:
            self.rt.cudaGraphDestroy(graph)  # the executable graph is a copy; the template is not needed
        self._release.append((self.rt.cudaGraphExecDestroy, executable))
        return executable

    def launch(self, graph, stream) -> None:
        self._check("cudaGraphLaunch", self.rt.cudaGraphLaunch(graph, stream))

    def close(self) -> None:
        # Teardown errors are not actionable (the process may be exiting after a CUDA error already
        # reported); free everything, newest first, and ignore their status.
        while self._release:
            free, handle = self._release.pop()
            free(handle)


def open_cuda() -> Cuda:
    """The CUDA implementation for this machine (see the module docstring)."""
    return PyCuda() if cuda_binding() == "pycuda" else CudaPython()


def _contiguous(array: np.ndarray) -> None:
    """A copy takes the array's bytes from its first address: a strided view would copy the wrong ones."""
    if not array.flags.c_contiguous:
        raise RuntimeError("CUDA copies need C-contiguous host arrays (np.ascontiguousarray)")  # a caller bug
