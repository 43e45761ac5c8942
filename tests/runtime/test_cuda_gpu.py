"""runtime/cuda.py's cuda-python implementation on a real GPU: device memory, pinned host memory, streams,
timing events, copies both ways, a stream waiting on another's event, a captured graph launched.

Skipped without a CUDA GPU (the `gpu` marker, see conftest.py) and without cuda-python; `make gpu-check` runs it.
"""

from __future__ import annotations

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import cuda_python_runtime
from amf_edge.runtime.cuda import CudaPython

pytestmark = pytest.mark.gpu

SHAPE = (480, 640, 3)  # one camera frame of uint8 RGB


@pytest.fixture
def cuda():
    try:
        cuda_python_runtime()
    except AmfEdgeError as e:
        pytest.skip(str(e))
    cuda = CudaPython()
    yield cuda
    cuda.close()


def frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, SHAPE, dtype=np.uint8)


def test_device_and_memory(cuda):
    device = cuda.device()
    assert device.name and device.cc >= (5, 0)
    free, total = cuda.memory_info()
    assert 0 < free <= total
    cuda.malloc(64 << 20)
    assert cuda.memory_info()[0] < free  # the 64 MiB are taken from the device


def test_pinned_memory_is_a_writable_array_of_the_asked_shape_and_type(cuda):
    array = cuda.pinned((2, 3, 4), np.float32)
    assert array.shape == (2, 3, 4) and array.dtype == np.float32 and array.flags.writeable
    array[:] = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert array.sum() == 276


def test_round_trip_through_device_memory_with_timing_events(cuda):
    upload, download = cuda.pinned(SHAPE, np.uint8), cuda.pinned(SHAPE, np.uint8)
    upload[:], download[:] = frame(0), 0
    device = cuda.malloc(upload.nbytes)
    stream = cuda.stream()
    assert isinstance(cuda.stream_handle(stream), int)
    start, end = cuda.event(timing=True), cuda.event(timing=True)
    cuda.record(start, stream)
    cuda.copy_to_device(device, upload, stream)
    cuda.copy_to_host(download, device, stream)
    cuda.record(end, stream)
    cuda.synchronize(end)
    np.testing.assert_array_equal(download, upload)
    assert cuda.elapsed_ms(start, end) > 0


def test_a_stream_waits_for_another_streams_event(cuda):
    upload, download = cuda.pinned(SHAPE, np.uint8), cuda.pinned(SHAPE, np.uint8)
    upload[:], download[:] = frame(1), 0
    device = cuda.malloc(upload.nbytes)
    first, second = cuda.stream(), cuda.stream()
    uploaded, done = cuda.event(), cuda.event()
    cuda.copy_to_device(device, upload, first)
    cuda.record(uploaded, first)
    cuda.wait(second, uploaded)  # the download on `second` must not start before the upload on `first` ends
    cuda.copy_to_host(download, device, second)
    cuda.record(done, second)
    cuda.synchronize(done)
    np.testing.assert_array_equal(download, upload)


def test_a_captured_graph_runs_when_launched_and_reads_the_buffers_then(cuda):
    assert cuda.supports_graphs
    upload, download = cuda.pinned(SHAPE, np.uint8), cuda.pinned(SHAPE, np.uint8)
    upload[:], download[:] = frame(2), 0
    device = cuda.malloc(upload.nbytes)
    stream, done = cuda.stream(), cuda.event()
    cuda.begin_capture(stream)
    cuda.copy_to_device(device, upload, stream)
    cuda.copy_to_host(download, device, stream)
    graph = cuda.end_capture(stream)
    cuda.record(done, stream)
    cuda.synchronize(done)
    assert not download.any()  # capturing records the copies, it does not run them
    for seed in (3, 4):  # each launch copies what the pinned buffer holds at that time
        upload[:] = frame(seed)
        cuda.launch(graph, stream)
        cuda.record(done, stream)
        cuda.synchronize(done)
        np.testing.assert_array_equal(download, upload)


def test_a_failing_call_is_an_amf_edge_error_naming_it(cuda):
    with pytest.raises(AmfEdgeError, match="CUDA cudaMalloc failed: cudaErrorMemoryAllocation"):
        cuda.malloc(1 << 60)  # an exbibyte
    # The failure can stay CUDA's "last error" for this thread until read: clear it, so that no later launch check in
    # this process (PyTorch's, in the gpu-marked training test) takes it for its own.
    cuda_python_runtime().cudaGetLastError()
