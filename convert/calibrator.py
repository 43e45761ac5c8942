"""Calibration for TensorRT 10's legacy INT8 path (`amf-edge build --int8 --calib calib_data/NAME`).

`Calibration` is a calibration set as the build sees it; `_legacy_calibrator` is the
IInt8EntropyCalibrator2 that feeds it to the builder and keeps TensorRT's calibration cache beside the
engine (`calibration_cache_path`). TensorRT 11 removed calibrators: INT8 there is a Q/DQ ONNX from
`amf-edge quantize`. Functions named `_legacy_*` run on TensorRT 10 only
(tests/convert/test_trt_conformance.py checks their TensorRT names against the 10.x surfaces alone).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module


@dataclass(frozen=True)
class Calibration:
    """A calibration set for the legacy INT8 path.

    `batches(contract)` yields model inputs exactly as `ModelContract.inputs` makes them:
    {"rgb": uint8 1×H×W×3, "depth": float32 1×H×W metres}, at the contract's size; it is called once per
    calibration, so a generator function is fine (`amf_edge.calibset.CalibrationSet.batches` is one).
    `fingerprint` identifies what the frames become (a hash of the set's contents and the preprocessing);
    it goes into the engine key and the calibration cache's name.
    """

    path: Path
    fingerprint: str
    batches: Callable[[ModelContract], Iterable[Mapping[str, np.ndarray]]]

    @classmethod
    def from_set(cls, path: Path) -> Calibration:
        """A calibration set directory (calib_data/README.md) → Calibration. Opening it checks the manifest
        and every frame's hash; a missing or changed set is an error that says how to recreate it."""
        from amf_edge.calibset import CalibrationSet
        from amf_edge.preprocess import PREPROCESS_VERSION

        calib_set = CalibrationSet.open(path)
        # the frames' hash and the preprocessing that turns them into model inputs identify what TensorRT sees
        fingerprint = hashlib.sha256(f"{calib_set.content_sha256}:preprocess-{PREPROCESS_VERSION}".encode()).hexdigest()
        return cls(path=path, fingerprint=fingerprint, batches=calib_set.batches)


def calibration_cache_path(engine_path: Path, onnx_sha256: str, fingerprint: str) -> Path:
    """Beside the engine, named by the model and the set: a cache is reused only for the same pair, so a
    stale one (another model, another set) can never be picked up."""
    tag = hashlib.sha256(f"{onnx_sha256}:{fingerprint}".encode()).hexdigest()[:16]
    return engine_path.with_name(f"{engine_path.name}.calib-{tag}.cache")


def _device_arrays():
    """Device buffers for the calibrator: Polygraphy's (ctypes over libcudart). convert/ may not use
    runtime/cuda.py (dependencies point one way), and Polygraphy is already what convert/ builds on."""
    return require_module("polygraphy.cuda", "device buffers for INT8 calibration").DeviceArray


def _legacy_calibrator(trt, calibration: Calibration, contract: ModelContract, cache_path: Path):
    """TensorRT 10 only: an IInt8EntropyCalibrator2 that feeds the calibration set and keeps its cache file.

    Errors inside TensorRT's callbacks cannot propagate through the builder; they are kept in `.error`
    and raised after the build. A context manager: leaving it frees the device buffers. Public methods
    are the TensorRT callbacks only (the conformance test checks them against the surfaces).
    """
    DeviceArray = _device_arrays()
    expected = {"rgb": ((1, contract.height, contract.width, 3), np.uint8),
                "depth": ((1, contract.height, contract.width), np.float32)}

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11 trampolines need the base initialised explicitly
            self.error: AmfEdgeError | None = None
            self.frames = 0
            self._batches = iter(calibration.batches(contract))
            self._buffers: dict[str, Any] = {}

        def get_batch_size(self):
            return 1

        def get_batch(self, names):
            try:
                batch = next(self._batches, None)
                if batch is None:
                    if self.frames == 0:
                        raise AmfEdgeError(f"the calibration set {calibration.path} yielded no frames; check its "
                                           "manifest.json and frames")
                    return None
                self.frames += 1
                return [self._upload(name, batch) for name in names]
            except AmfEdgeError as e:
                self.error = e
                return None  # stops calibration; build_engine raises the error

        def _upload(self, name: str, batch: Mapping[str, np.ndarray]) -> int:
            if name not in expected or name not in batch:
                raise AmfEdgeError(f"calibration frame {self.frames} of {calibration.path} has inputs {sorted(batch)}, "
                                   f"the network asks for {name!r}; expected {sorted(expected)}")
            shape, dtype = expected[name]
            array = np.asarray(batch[name])
            if array.shape != shape or array.dtype != dtype:
                raise AmfEdgeError(f"calibration frame {self.frames} of {calibration.path}: {name} is {array.dtype} "
                                   f"{array.shape}, the model takes {np.dtype(dtype).name} {shape}; build the set at "
                                   f"the model's size {contract.height}×{contract.width}")
            # Calibration reads every non-index input as float32, the uint8 rgb included (Polygraphy's
            # calibrator converts for the same reason), so rgb goes up as float32 0–255.
            data = np.ascontiguousarray(array, dtype=np.float32)
            if name not in self._buffers:
                self._buffers[name] = DeviceArray.raw((data.nbytes,))
            self._buffers[name].copy_from(data.reshape(-1).view(np.uint8))
            return self._buffers[name].ptr

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache):
            tmp = cache_path.with_name(cache_path.name + ".tmp")
            tmp.write_bytes(bytes(cache))
            tmp.replace(cache_path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):  # device buffers live until the build is done with them
            for buffer in self._buffers.values():
                buffer.free()
            self._buffers.clear()

    return EntropyCalibrator()
