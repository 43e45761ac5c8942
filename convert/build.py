"""ONNX → TensorRT engine bundle (`amf-edge build`), with the TensorRT Python API, for TensorRT 10 and 11.

Strongly typed networks by default (NetworkDefinitionCreationFlag.STRONGLY_TYPED): every tensor keeps
the type the ONNX gives it, so the engine's precision is the ONNX file's (`amf-edge export` for fp32,
`amf-edge quantize --precision fp16|int8` for the variants; INT8 = Q/DQ nodes). That is the one code path
for TensorRT 10 and 11, and the only one TensorRT 11 has.

TensorRT 10 only, for an FP32 ONNX: the legacy weakly typed path, where `--fp16` and `--int8` (with an
IInt8EntropyCalibrator2 over a calibration set) let TensorRT choose lower precisions itself. TensorRT 11
removed it (no BuilderFlag.FP16/INT8, no calibrators); there these options are errors that say to export
an FP16/INT8 ONNX instead. Functions named `_legacy_*` run on TensorRT 10 only
(tests/convert/test_trt_conformance.py checks their TensorRT names against the 10.x surfaces alone); the
calibrator is amf_edge.convert.calibrator's.

The steps, each of which can stop with an AmfEdgeError: read the ONNX's amf-edge metadata → check the
options against its precision, the TensorRT version and the GPU (amf_edge.convert.build_options, before
any builder object exists) → the bundle key → skip when the bundle is up to date → parse → configure →
build → save the timing cache (amf_edge.convert.timing_cache), the engine, the layer report and the
sidecar (amf_edge.bundle).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from amf_edge import __version__
from amf_edge.bundle import Bundle, engine_key, key_fields, layers_path, sidecar_path, up_to_date, write_bundle
from amf_edge.contract import ModelContract, read_metadata
from amf_edge.convert.build_options import BuildOptions, check_options, check_tensorrt, engine_precision
from amf_edge.convert.calibrator import Calibration, _legacy_calibrator, calibration_cache_path
from amf_edge.convert.timing_cache import load_timing_cache, save_timing_cache
from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256
from amf_edge.gpu import Device, query_device
from amf_edge.lazy import require_module


@dataclass
class BuildResult:
    bundle: Bundle
    built: bool  # False: the existing bundle was up to date and kept
    reason: str  # why it was built, or "" when kept
    seconds: float
    layer_precisions: dict[str, int]


_DEFAULT_OPTIONS = BuildOptions()  # frozen, so one shared default is safe


def build_engine(onnx_path: str | Path, engine_path: str | Path, options: BuildOptions = _DEFAULT_OPTIONS, *,
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
    trt = require_module("tensorrt", "building TensorRT engines")
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

    timings = load_timing_cache(Path(timing_cache), trt.__version__, device) if timing_cache is not None else b""
    plan, cache_bytes = _build(trt, onnx_path, engine_path, options, contract=contract, device=device,
                               calibration=calibration, timings=timings, onnx_sha256=onnx_sha256, progress=progress)
    if timing_cache is not None:
        save_timing_cache(Path(timing_cache), cache_bytes, trt.__version__, device)

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
