"""What `amf-edge build` is asked for, and every check of it that needs no TensorRT builder object.

`BuildOptions` is everything besides the ONNX file that determines the engine (all of it goes into the
bundle key). `engine_precision`, `check_tensorrt` and `check_options` stop a build with an AmfEdgeError
that says what to do instead, before any builder object exists: on TensorRT 11 the legacy options stop
before anything asks for BuilderFlag.FP16/INT8, which 11.x lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amf_edge.bundle import version_tuple
from amf_edge.contract import PRECISIONS, ModelContract
from amf_edge.convert.calibrator import Calibration
from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import Device

LEGACY_MAJOR = 10  # the last TensorRT with weak typing (BuilderFlag.FP16/INT8, INT8 calibrators)
OPT_LEVELS = range(6)
HARDWARE_COMPAT = ("ampere+",)


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
