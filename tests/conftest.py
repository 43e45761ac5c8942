"""Hardware and checkout markers: tests that need what this machine lacks skip with the reason.

Markers are registered in pyproject.toml. `slow` tests run by default (CI runs everything); gpu, trt,
camera and reference tests run wherever their hardware or checkout is present.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _realsense_connected() -> bool:
    if importlib.util.find_spec("pyrealsense2") is None:
        return False
    import pyrealsense2 as rs

    return len(rs.context().query_devices()) > 0


def _reference_repo() -> Path | None:
    repo = os.environ.get("AMF_REFERENCE_REPO")
    return Path(repo) if repo and (Path(repo) / "models" / "model.py").is_file() else None


_REQUIREMENTS = {
    "gpu": (_cuda_available, "needs a CUDA GPU"),
    "trt": (lambda: _cuda_available() and importlib.util.find_spec("tensorrt") is not None, "needs TensorRT and a CUDA GPU"),
    "camera": (_realsense_connected, "needs a connected RealSense camera"),
    "reference": (lambda: _reference_repo() is not None,
                  "needs AMF_REFERENCE_REPO pointing at a checkout of github.com/yikaiw/AsymFusion"),
}


def pytest_collection_modifyitems(config, items):
    available: dict[str, bool] = {}
    for item in items:
        for marker, (check, reason) in _REQUIREMENTS.items():
            if marker in item.keywords:
                if marker not in available:
                    available[marker] = check()
                if not available[marker]:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def reference_repo() -> Path:
    repo = _reference_repo()
    assert repo is not None  # the marker skipped the test otherwise
    return repo
