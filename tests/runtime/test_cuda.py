"""runtime/cuda.py without a GPU: what its copies accept (the device itself: test_cuda_gpu.py)."""

from __future__ import annotations

import numpy as np
import pytest

from amf_edge.runtime.cuda import _contiguous

pytestmark = pytest.mark.edge


def test_copies_refuse_strided_host_arrays():
    frame = np.zeros((4, 6, 3), np.uint8)
    _contiguous(frame)
    with pytest.raises(RuntimeError, match="C-contiguous"):
        _contiguous(frame[:, ::2])  # a strided view: its bytes are not where a copy of nbytes would read
