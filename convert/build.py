"""ONNX → TensorRT engine bundle (`amf-edge build`), with the TensorRT Python API, for TensorRT 10 and 11.

Strongly typed networks by default (NetworkDefinitionCreationFlag.STRONGLY_TYPED): every tensor keeps
the type the ONNX gives it, so the engine's precision is the ONNX file's (`amf-edge export` for fp32,
`amf-edge quantize --precision fp16|int8` for the variants; INT8 = Q/DQ nodes). That is the one code path for TensorRT 10 and 11, and the only
one TensorRT 11 has.

TensorRT 10 only, for an FP32 ONNX: the legacy weakly typed path, where `--fp16` and `--int8` (with an
IInt8EntropyCalibrator2 over a calibration set) let TensorRT choose lower precisions itself. TensorRT 11
removed it (no BuilderFlag.FP16/INT8, no calibrators); there these options are errors that say to export
an FP16/INT8 ONNX instead. Functions named `_legacy_*` run on TensorRT 10 only
(tests/test_trt_conformance.py checks their TensorRT names against the 10.x surfaces alone).

The steps, each of which can stop with an AmfEdgeError: read the ONNX's amf-edge metadata → check the
options against its precision, the TensorRT version and the GPU (before any builder object exists) →
the bundle key → skip when the bundle is up to date → parse → configure → build → save the timing
cache, the engine, the layer report and the sidecar (amf_edge.bundle).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from amf_edge import __version__
from amf_edge.bundle import (
    Bundle,
    Device,
    engine_key,
    key_fields,
    layers_path,
    query_device,
    sidecar_path,
    up_to_date,
    version_tuple,
    write_bundle,
)
from amf_edge.contract import PRECISIONS, ModelContract, read_metadata
from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256
from amf_edge.lazy import require_module

LEGACY_MAJOR = 10  # the last TensorRT with weak typing (BuilderFlag.FP16/INT8, INT8 calibrators)
OPT_LEVELS = range(6)
HARDWARE_COMPAT = ("ampere+",)
TIMING_CACHE_MAGIC = b"AMF-EDGE-TIMING-CACHE "
TENSORRT_PACKAGE = "tensorrt (on Jetson it comes with JetPack: python3-libnvinfer)"


@dataclass(frozen=True)
class BuildOptions:
    """Everything besides the ONNX file that determines the engine (all of it goes into the bundle key)."""

    workspace_mib: int | None = None  # None: TensorRT's default (the GPU's memory)
    opt_level: int | None = None  # builder_optimization_level 0–5; None: TensorRT's default (3)
    dla_core: int | None = None  # DLA core to run on, GPU fallback for what DLA cannot run
    version_compatible: bool = False
    hardware_compat: str | None = None  # "ampere+"
    fp16: bool = False  # legacy (TensorRT 10, FP32 ONNX): allow FP16 kernels
    int8: bool = False  # legacy (TensorRT 10, FP32 ONNX): INT8 with entropy calibration

    @property
    def legacy(self) -> bool:
        return self.fp16 or self.int8


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


@dataclass
class BuildResult:
    bundle: Bundle
    built: bool  # False: the existing bundle was up to date and kept
    reason: str  # why it was built, or "" when kept
    seconds: float
    layer_precisions: dict[str, int]


def quantize_command(onnx_path: Path, precision: str, calib: str = "calib_data/NAME") -> str:
    """The `amf-edge quantize` command that makes the `precision` variant of an FP32 export."""
    stem = onnx_path.name.removesuffix(".onnx")
    calib_arg = f" --calib {calib}" if precision == "int8" else ""
    return f"amf-edge quantize FP32.onnx --precision {precision}{calib_arg} -o {stem}.{precision}.onnx"


def engine_precision(onnx_precision: str, options: BuildOptions, onnx_path: Path) -> str:
    """The engine's precision: the ONNX's, or on the legacy path what --fp16/--int8 ask for."""
    if onnx_precision not in PRECISIONS:
        raise AmfEdgeError(f"{onnx_path}: unknown precision {onnx_precision!r} in its metadata, expected one of "
                           f"{', '.join(PRECISIONS)}; re-export it with `amf-edge export`")
    if onnx_precision == "int8-cpu":
        raise AmfEdgeError(f"{onnx_path} is the int8-cpu flavour (uint8 activations, for ONNX Runtime on CPUs), which "
                           "TensorRT cannot build; build the int8 variant (signed symmetric Q/DQ) instead: "
                           f"`{quantize_command(onnx_path, 'int8')}`")
    if options.legacy and onnx_precision != "fp32":
        flags = " and ".join(f for f, on in (("--fp16", options.fp16), ("--int8", options.int8)) if on)
        raise AmfEdgeError(f"{flags} make TensorRT 10 lower the precision of an FP32 ONNX, but {onnx_path} is already "
                           f"{onnx_precision}; drop {flags}: the engine takes its precision from the file")
    if options.legacy:
        return "int8" if options.int8 else "fp16"
    return onnx_precision


def check_tensorrt(options: BuildOptions, tensorrt_version: str, onnx_path: Path) -> None:
    """The options against the TensorRT version: the first check after importing TensorRT, so that on 11.x
    the legacy options stop here, before anything asks for BuilderFlag.FP16/INT8 (which 11.x lacks)."""
    major = version_tuple(tensorrt_version)[0]
    if major < LEGACY_MAJOR:
        raise AmfEdgeError(f"TensorRT {tensorrt_version} is too old: amf-edge builds engines with TensorRT 10 "
                           "(JetPack 6 ships 10.3) or 11")
    if options.legacy and major > LEGACY_MAJOR:
        what = "--int8 --calib" if options.int8 else "--fp16"
        target = "int8" if options.int8 else "fp16"
        stem = onnx_path.name.removesuffix(".onnx")
        raise AmfEdgeError(f"{what} is TensorRT 10's weakly typed path; TensorRT {tensorrt_version} builds strongly "
                           "typed networks only (no FP16/INT8 builder flags, no calibrators). Make the "
                           f"{target} variant of the ONNX and build that without {what.split()[0]}: "
                           f"`{quantize_command(onnx_path, target)}`, then "
                           f"`amf-edge build {stem}.{target}.onnx -o {stem}.{target}.engine`")


def check_options(options: BuildOptions, *, precision: str, device: Device, calibration: Calibration | None,
                  onnx_path: Path, contract: ModelContract) -> None:
    """Every contradiction between the options, the model, the calibration set and the GPU."""
    if contract.dynamic:
        raise AmfEdgeError(f"{onnx_path} has symbolic N, H and W (`amf-edge export --dynamic`); a TensorRT engine "
                           "for it needs optimization profiles, which amf-edge build does not make: export it at the "
                           "camera's size without --dynamic (static shapes are also what TensorRT builds fastest)")
    if options.int8 and calibration is None:
        raise AmfEdgeError("--int8 needs a calibration set: --calib calib_data/NAME (a directory with manifest.json "
                           "and frames); or build the int8 variant of the ONNX, which needs none here: "
                           f"`{quantize_command(onnx_path, 'int8')}`")
    if calibration is not None and not options.int8:
        raise AmfEdgeError(f"--calib {calibration.path} is only used by --int8 (TensorRT 10, FP32 ONNX); "
                           "add --int8 or drop --calib")
    if options.workspace_mib is not None and options.workspace_mib <= 0:
        raise AmfEdgeError(f"--workspace must be a positive number of MiB, got {options.workspace_mib}")
    if options.opt_level is not None and options.opt_level not in OPT_LEVELS:
        raise AmfEdgeError(f"--opt-level must be 0–5 (TensorRT's default is 3), got {options.opt_level}")
    if options.hardware_compat is not None:
        if options.hardware_compat not in HARDWARE_COMPAT:
            raise AmfEdgeError(f"--hardware-compat {options.hardware_compat!r}: expected one of "
                               f"{', '.join(HARDWARE_COMPAT)}")
        if device.integrated or device.cc < (8, 0):
            integrated = " (integrated)" if device.integrated else ""
            raise AmfEdgeError("--hardware-compat ampere+ builds for discrete Ampere-or-newer GPUs (compute capability "
                               f"≥ 8.0), and this is {device.describe()}{integrated}; build without it")
        if options.dla_core is not None:
            raise AmfEdgeError("--hardware-compat and --dla exclude each other: hardware-compatible engines are for "
                               "discrete GPUs, DLA exists on Jetson only")
    if options.dla_core is not None and precision == "fp32":
        raise AmfEdgeError(f"--dla {options.dla_core}: DLA runs FP16 and INT8 layers only and {onnx_path} is FP32, "
                           "so every layer would fall back to the GPU; build its fp16 or int8 variant "
                           f"(`{quantize_command(onnx_path, 'fp16')}`), or on TensorRT 10 add --fp16")


def build_engine(onnx_path: str | Path, engine_path: str | Path, options: BuildOptions = BuildOptions(), *,
                 calibration: Calibration | None = None, timing_cache: str | Path | None = None, force: bool = False,
                 log: Callable[[str], None] = print, progress: TextIO | None | str = "stderr") -> BuildResult:
    """Build (or keep) the engine bundle for `onnx_path` at `engine_path`; see the module docstring.

    Args:
        timing_cache: a file of TensorRT's tactic timings, loaded when it exists and saved after the
            build; it belongs to one TensorRT version and GPU (recorded in its header).
        force: rebuild even when the bundle is up to date.
        log: where the one-line results go; `progress`: where the builder's phases go (the current
            sys.stderr by default, None: nowhere).
    """
    start = time.monotonic()
    if progress == "stderr":
        progress = sys.stderr
    onnx_path, engine_path = Path(onnx_path), Path(engine_path)
    if not onnx_path.is_file():
        raise AmfEdgeError(f"{onnx_path}: no such ONNX file; make one with `amf-edge export CKPT -o {onnx_path}`")
    meta = read_metadata(onnx_path)
    onnx_precision = meta.get("precision", "fp32")
    precision = engine_precision(onnx_precision, options, onnx_path)
    contract = ModelContract.from_metadata(meta)
    trt = require_module("tensorrt", TENSORRT_PACKAGE, "building TensorRT engines")
    check_tensorrt(options, trt.__version__, onnx_path)
    device = query_device()
    check_options(options, precision=precision, device=device, calibration=calibration, onnx_path=onnx_path,
                  contract=contract)

    onnx_sha256 = file_sha256(onnx_path)
    recorded = asdict(options)
    if calibration is not None:
        recorded["calibration"] = {"path": str(calibration.path), "sha256": calibration.fingerprint}
    fields = key_fields(onnx_sha256=onnx_sha256, tensorrt_version=trt.__version__, device=device,
                        precision=precision, options=recorded)
    key = engine_key(fields)
    existing, reason = (None, "--force") if force else up_to_date(engine_path, key, fields)
    if existing is not None:
        log(f"{engine_path} is up to date (same ONNX, TensorRT {trt.__version__}, {device.describe()}, {precision}, "
            "same options): not rebuilt; --force rebuilds it")
        return BuildResult(existing, False, "", time.monotonic() - start, {})
    log(f"building {engine_path} from {onnx_path} ({reason}): TensorRT {trt.__version__}, {device.describe()}, "
        f"{precision}")

    timings = _load_timing_cache(Path(timing_cache), trt.__version__, device) if timing_cache is not None else b""
    plan, cache_bytes = _build(trt, onnx_path, engine_path, options, contract=contract, device=device,
                               calibration=calibration, timings=timings, onnx_sha256=onnx_sha256, progress=progress)
    if timing_cache is not None:
        _save_timing_cache(Path(timing_cache), cache_bytes, trt.__version__, device)

    engine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_name(engine_path.name + ".tmp")
    tmp.write_bytes(plan)
    # the old sidecar goes first: from here until the new one is written there is no valid bundle
    sidecar_path(engine_path).unlink(missing_ok=True)
    tmp.replace(engine_path)
    report = _layer_report(trt, plan, options)
    layers_file = layers_path(engine_path)
    layers_file.write_text(json.dumps(report, indent=1) + "\n")
    counts = layer_precisions(report)

    bundle = Bundle(
        engine_path=engine_path, metadata={**meta, "precision": precision},
        onnx={"path": str(onnx_path), "sha256": onnx_sha256, "precision": onnx_precision},
        tensorrt=trt.__version__, device=device, precision=precision, options=recorded, key=key,
        engine_sha256=hashlib.sha256(plan).hexdigest(), layers=layers_file.name,
        tools={"amf_edge": __version__, "tensorrt": trt.__version__},
    )
    write_bundle(bundle)
    seconds = time.monotonic() - start
    summary = ", ".join(f"{p} {n}" for p, n in counts.most_common())
    log(f"built {engine_path} in {seconds:.1f} s ({len(plan) / 1e6:.1f} MB); {sum(counts.values())} layers "
        f"({summary}), per-layer report {layers_file.name}")
    return BuildResult(bundle, True, reason, seconds, dict(counts))


def _build(trt, onnx_path: Path, engine_path: Path, options: BuildOptions, *, contract: ModelContract, device: Device,
           calibration: Calibration | None, timings: bytes, onnx_sha256: str,
           progress: TextIO | None) -> tuple[bytes, bytes]:
    """Parse, configure and build; returns the serialized engine and the updated timing cache."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # No EXPLICIT_BATCH: TensorRT 10 ignores it (every network is explicit-batch) and 11 removed it, so
    # flags without it mean the same network on both. Weak typing (flags 0) is the legacy path only.
    flags = 0 if options.legacy else 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        details = "; ".join(f"{e.desc()} (node {e.node()})" for e in errors) or "no details"
        raise AmfEdgeError(f"TensorRT {trt.__version__}'s ONNX parser rejected {onnx_path}: {details}; "
                           f"`polygraphy inspect capability {onnx_path}` shows which nodes it supports")

    if options.dla_core is not None:
        cores = builder.num_DLA_cores
        if cores == 0:
            raise AmfEdgeError(f"--dla {options.dla_core}: {device.describe()} has no DLA cores (DLA exists on Jetson "
                               "AGX/NX Xavier and Orin modules); build without --dla")
        if not 0 <= options.dla_core < cores:
            raise AmfEdgeError(f"--dla {options.dla_core}: {device.describe()} has DLA cores 0–{cores - 1}")

    config = builder.create_builder_config()
    if options.workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    if options.opt_level is not None:
        config.builder_optimization_level = options.opt_level
    # DETAILED keeps per-layer information in the engine, for the inspector report saved beside it
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    monitor = _progress_monitor(trt, progress) if progress is not None else None
    if monitor is not None:
        config.progress_monitor = monitor
    # ignore_mismatch=False: the cache file's header already matched version and GPU; TensorRT's own
    # check stays on as a second guard
    if not config.set_timing_cache(config.create_timing_cache(timings), False):
        raise AmfEdgeError("TensorRT refused the timing cache; delete the --timing-cache file or pass another one")
    if options.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        # layers DLA cannot run go to the GPU; the layer report says which
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    if options.hardware_compat == "ampere+":
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    calibrator = None
    if options.legacy:
        if options.int8:
            cache_path = calibration_cache_path(engine_path, onnx_sha256, calibration.fingerprint)
            calibrator = _legacy_calibrator(trt, calibration, contract, cache_path)
        _legacy_configure(trt, config, options, calibrator)

    with calibrator if calibrator is not None else contextlib.nullcontext():
        plan = builder.build_serialized_network(network, config)
    if calibrator is not None and calibrator.error is not None:
        raise calibrator.error
    if plan is None:
        raise AmfEdgeError(f"TensorRT {trt.__version__} could not build {onnx_path} (its log above says why)")
    return bytes(plan), bytes(config.get_timing_cache().serialize())


def _legacy_configure(trt, config, options: BuildOptions, calibrator) -> None:
    """TensorRT 10 only: weak typing lets TensorRT pick FP16/INT8 kernels for an FP32 network."""
    if options.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if options.int8:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator


def calibration_cache_path(engine_path: Path, onnx_sha256: str, fingerprint: str) -> Path:
    """Beside the engine, named by the model and the set: a cache is reused only for the same pair, so a
    stale one (another model, another set) can never be picked up."""
    tag = hashlib.sha256(f"{onnx_sha256}:{fingerprint}".encode()).hexdigest()[:16]
    return engine_path.with_name(f"{engine_path.name}.calib-{tag}.cache")


def _device_arrays():
    """Device buffers for the calibrator: Polygraphy's (ctypes over libcudart). convert/ may not use
    runtime/cuda.py (dependencies point one way), and Polygraphy is already what convert/ builds on."""
    return require_module("polygraphy.cuda", "polygraphy", "device buffers for INT8 calibration").DeviceArray


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


def _progress_monitor(trt, stream: TextIO):
    """Builder phases on `stream`: top-level phases and their children, with a step count at most twice a
    second (step_complete runs for every tactic)."""

    class Progress(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)  # pybind11 trampolines need the base initialised explicitly
            self._phases: dict[str, tuple[int, int]] = {}  # name → (depth, steps)
            self._shown = 0.0

        def phase_start(self, phase_name, parent_phase, num_steps):
            depth = self._phases[parent_phase][0] + 1 if parent_phase in self._phases else 0
            self._phases[phase_name] = (depth, num_steps)
            if depth <= 1:
                print(f"{'  ' * depth}{phase_name} ({num_steps} steps)", file=stream, flush=True)

        def step_complete(self, phase_name, step):
            depth, steps = self._phases.get(phase_name, (0, 0))
            now = time.monotonic()
            if depth <= 1 and now - self._shown > 0.5:
                self._shown = now
                print(f"{'  ' * depth}{phase_name}: {step + 1}/{steps}", file=stream, flush=True)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            self._phases.pop(phase_name, None)

    return Progress()


def _load_timing_cache(path: Path, tensorrt_version: str, device: Device) -> bytes:
    """The timings in `path` (b"" when it does not exist yet), after checking they are for this TensorRT and GPU."""
    if not path.exists():
        return b""
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    if not header.startswith(TIMING_CACHE_MAGIC):
        raise AmfEdgeError(f"--timing-cache {path} is not an amf-edge timing cache (no header saying which TensorRT "
                           "and GPU it is for); pass a new file name and amf-edge creates it")
    try:
        owner = json.loads(header[len(TIMING_CACHE_MAGIC):])
    except ValueError:
        raise AmfEdgeError(f"--timing-cache {path} has a damaged header; delete it") from None
    mine = _timing_cache_owner(tensorrt_version, device)
    if owner != mine:
        raise AmfEdgeError(f"--timing-cache {path} holds timings of TensorRT {owner.get('tensorrt')} on "
                           f"{owner.get('gpu')} ({owner.get('compute_capability')}); this build is TensorRT "
                           f"{tensorrt_version} on {device.describe()}, and timings do not transfer: pass another "
                           "--timing-cache file (one per TensorRT version and GPU)")
    return body


def _save_timing_cache(path: Path, body: bytes, tensorrt_version: str, device: Device) -> None:
    header = TIMING_CACHE_MAGIC + json.dumps(_timing_cache_owner(tensorrt_version, device)).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header + body)
    tmp.replace(path)


def _timing_cache_owner(tensorrt_version: str, device: Device) -> dict[str, str]:
    return {"tensorrt": tensorrt_version, "gpu": device.name, "compute_capability": device.compute_capability}


def _layer_report(trt, plan: bytes, options: BuildOptions) -> dict[str, Any]:
    """TensorRT's engine inspector on the new engine: every layer after fusion, with its precision."""
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    if options.version_compatible:
        runtime.engine_host_code_allowed = True  # the plan we just built carries its lean runtime
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise AmfEdgeError("TensorRT could not load the engine it just built (its log above says why)")
    inspector = engine.create_engine_inspector()
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


# Substrings of the inspector's "Format/Datatype" text, most specific first ("UInt8" contains "Int8").
_PRECISION_WORDS = (("fp8", "fp8"), ("uint8", "uint8"), ("int8", "int8"), ("bf16", "bf16"), ("fp16", "fp16"),
                    ("half", "fp16"), ("fp32", "fp32"), ("float", "fp32"), ("int32", "int32"), ("int64", "int64"),
                    ("bool", "bool"))


def layer_precisions(report: dict[str, Any]) -> Counter:
    """How many layers produce each precision (by their first output), from an inspector JSON report."""
    counts: Counter = Counter()
    for layer in report.get("Layers", []):
        outputs = layer.get("Outputs", []) if isinstance(layer, dict) else []
        text = str(outputs[0].get("Format/Datatype", "")).lower() if outputs and isinstance(outputs[0], dict) else ""
        counts[next((p for word, p in _PRECISION_WORDS if word in text), "unknown")] += 1
    return counts
