"""Hardware and checkout markers: tests that need what this machine lacks skip with the reason; and the
artefacts several test folders share: a tiny checkpoint (`tiny_checkpoint`) and a fake engine bundle
(`write_engine_bundle`).

Markers are registered in pyproject.toml. `slow` tests run by default (CI runs everything); gpu, trt,
camera and reference tests run wherever their hardware or checkout is present. This file is imported on
the torch-free edge target too: nothing here imports torch until a fixture is called.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from pathlib import Path

import pytest


def _restore_stop_signals() -> None:
    """A suite started in the background of a script (`make test &`, nohup) inherits SIGINT and SIGHUP ignored,
    and the runtime rightly keeps an ignored signal ignored (nohup's promise); the signal tests need what a
    terminal gives, in this process and in the commands they start."""
    for name, default in (("SIGINT", signal.default_int_handler), ("SIGTERM", signal.SIG_DFL),
                          ("SIGHUP", signal.SIG_DFL)):
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is signal.SIG_IGN:
            signal.signal(getattr(signal, name), default)


_restore_stop_signals()


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _realsense_connected() -> bool:
    try:
        import pyrealsense2 as rs
    except ImportError:  # not installed, or its libusb is missing (scripts/install-system-deps.sh installs it)
        return False

    return len(rs.context().query_devices()) > 0


def _reference_repo() -> Path | None:
    repo = os.environ.get("AMF_REFERENCE_REPO")
    return Path(repo) if repo and (Path(repo) / "models" / "model.py").is_file() else None


_REQUIREMENTS = {
    "gpu": (_cuda_available, "needs a CUDA GPU"),
    "trt": (lambda: _cuda_available() and importlib.util.find_spec("tensorrt") is not None,
            "needs TensorRT and a CUDA GPU"),
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


# -- shared artefacts ---------------------------------------------------------------------------------------
# Both fixtures import what they need when called: torch-free (edge) test modules request them too, and
# this file is imported on the edge target, where torch is absent.


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Factory: tiny_checkpoint(channel_order="RGB", decoder_width=32, depth_gate=0.0) -> the path of an amf-edge
    checkpoint: asymfusion-r18 on the synthetic labels (11 classes), seeded weights and non-trivial BatchNorm statistics
    (so an exported, folded graph differs from the checkpoint). One file per argument set for the whole
    session, written read-only: write what a test makes elsewhere (tmp_path), never beside or over it."""
    made: dict[tuple, Path] = {}

    def make(channel_order: str = "RGB", decoder_width: int = 32, depth_gate: float = 0.0) -> Path:
        key = (channel_order, decoder_width, depth_gate)
        if key not in made:
            import torch

            from amf_edge.checkpoint import save_checkpoint
            from amf_edge.models import build_model
            from amf_edge.preprocess import PreprocessSpec
            from amf_edge.synthetic import SYNTHETIC_LABELS

            torch.manual_seed(0)
            model = build_model("asymfusion-r18", num_classes=SYNTHETIC_LABELS.num_classes,
                                decoder_width=decoder_width, depth_gate=depth_gate).eval()
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.running_mean.uniform_(-0.3, 0.3)
                        m.running_var.uniform_(0.5, 2.0)
            path = save_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny.pt", model, labels=SYNTHETIC_LABELS,
                                   preprocess=PreprocessSpec(channel_order=channel_order),
                                   meta={"preset": "asymfusion-r18"})
            path.chmod(0o444)
            made[key] = path
        return made[key]

    return make


@pytest.fixture(scope="session")
def write_engine_bundle():
    """Factory: write_engine_bundle(folder, metadata=..., device=..., tensorrt="10.3.0", onnx_path="m.onnx",
    **build_options) -> Bundle: a fake engine (four bytes) at folder/m.engine and its sidecar, written by
    amf_edge.bundle.write_bundle, keyed as `amf-edge build` keys a real one. The test files bind their own
    metadata and device (tests/core/test_bundle.py, tests/native/test_native.py)."""
    from amf_edge.bundle import Bundle, engine_key, key_fields, write_bundle
    from amf_edge.files import file_sha256

    def make(folder: Path, *, metadata: dict, device, tensorrt: str = "10.3.0", onnx_path: str = "m.onnx",
             **options) -> Bundle:
        engine = folder / "m.engine"
        engine.write_bytes(b"plan")
        opts = {"workspace_mib": None, "opt_level": None, "dla_core": None, "version_compatible": False,
                "hardware_compat": None, "fp16": False, "int8": False, **options}
        fields = key_fields(onnx_sha256="a" * 64, tensorrt_version=tensorrt, device=device, precision="fp16",
                            options=opts)
        bundle = Bundle(engine_path=engine, metadata=metadata,
                        onnx={"path": onnx_path, "sha256": "a" * 64, "precision": "fp16"}, tensorrt=tensorrt,
                        device=device, precision="fp16", options=opts, key=engine_key(fields),
                        engine_sha256=file_sha256(engine), layers="m.engine.layers.json")
        write_bundle(bundle)
        return bundle

    return make
