"""Build a TensorRT engine bundle from an exported ONNX model, on the GPU that will run it.

The engine's precision is the ONNX file's (strongly typed networks, TensorRT 10 and 11): make the
fp16 or int8 variant of an export with `amf-edge quantize --precision ...` and build it as it is.
Beside MODEL.engine go MODEL.engine.json (classes, palette, input contract, TensorRT version, GPU,
options: what the runtime reads) and MODEL.engine.layers.json (every layer and the precision it got).
When a bundle built from the same ONNX with the same TensorRT, GPU and options exists, nothing is
rebuilt (--force rebuilds).

TensorRT 10 only, for an FP32 ONNX: --fp16, and --int8 with a calibration set (calib_data/NAME, see
calib_data/README.md; `amf-edge calib collect` makes one), TensorRT's legacy weakly typed path; the
calibration cache is kept beside the engine, named by the model and the set. TensorRT 11 has no such
path: build the fp16/int8 variant (`amf-edge quantize`) instead.

examples:
  amf-edge build r18.onnx -o r18.engine
  amf-edge build r18.fp16.onnx -o r18.fp16.engine --timing-cache ~/.cache/amf-edge/orin-trt10.3.timing
  amf-edge build r18.int8.onnx -o r18.int8-dla.engine --dla 0          # Jetson Orin: DLA core 0, GPU fallback
  amf-edge build r18.fp16.onnx -o r18.engine --version-compatible --hardware-compat ampere+
  amf-edge build r18.onnx -o r18-int8.engine --int8 --calib calib_data/nyudv2   # TensorRT 10 only
  amf-edge build r18.int8.onnx -o r18.engine --check   # then compare the engine with its ONNX (amf-edge check)

--check runs `amf-edge check ENGINE --against MODEL.onnx` on this GPU right after the build (or on the
kept bundle), on the calibration frames: --check-frames, else --calib, else the set the ONNX was quantized
on where calib_data/ holds it, else synthetic scenes. The result goes into the sidecar, and `amf-edge run`
prints it when it loads the engine; exit status 1 when the engine misses the check's thresholds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build a TensorRT engine bundle from an ONNX model (skipped when up to date)"
EXTRAS = "convert,trt"  # pip install "amf-edge[convert,trt]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("onnx", type=Path, metavar="MODEL.onnx",
                        help="an ONNX file from `amf-edge export` or `amf-edge quantize` (fp32, fp16, int8)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.engine")
    parser.add_argument("--force", action="store_true", help="rebuild even when the bundle is up to date")
    tune = parser.add_argument_group("builder")
    tune.add_argument("--workspace", type=int, metavar="MiB",
                      help="workspace memory pool limit (default: TensorRT's, the GPU's memory)")
    tune.add_argument("--opt-level", type=int, choices=range(6), metavar="0-5",
                      help="builder optimization level: higher searches longer (default: TensorRT's, 3)")
    tune.add_argument("--timing-cache", type=Path, metavar="FILE",
                      help="load tactic timings from FILE when it exists, save them after the build (one file per "
                           "TensorRT version and GPU)")
    target = parser.add_argument_group("target")
    target.add_argument("--dla", type=int, metavar="N",
                        help="run on DLA core N, unsupported layers on the GPU (Jetson; fp16/int8)")
    target.add_argument("--version-compatible", action="store_true",
                        help="an engine later TensorRT runtimes can load (10.x → later 10.x and 11.x)")
    target.add_argument("--hardware-compat", choices=("ampere+",),
                        help="an engine for any Ampere-or-newer discrete GPU")
    legacy = parser.add_argument_group("TensorRT 10 only (FP32 ONNX, weakly typed)")
    legacy.add_argument("--fp16", action="store_true", help="let TensorRT use FP16 kernels")
    legacy.add_argument("--int8", action="store_true", help="INT8 with entropy calibration (needs --calib)")
    legacy.add_argument("--calib", type=Path, metavar="calib_data/NAME", help="calibration set for --int8")
    check = parser.add_argument_group("check")
    check.add_argument("--check", action="store_true",
                       help="compare the engine with its ONNX after the build and record the result in the sidecar")
    check.add_argument("--check-frames", type=Path, metavar="calib_data/NAME",
                       help="frames for --check (default: --calib, the ONNX's calibration set, or synthetic scenes)")


def run(args: argparse.Namespace) -> int:
    from amf_edge.convert.build import build_engine
    from amf_edge.convert.build_options import BuildOptions
    from amf_edge.convert.calibrator import Calibration

    options = BuildOptions(workspace_mib=args.workspace, opt_level=args.opt_level, dla_core=args.dla,
                           version_compatible=args.version_compatible, hardware_compat=args.hardware_compat,
                           fp16=args.fp16, int8=args.int8)
    calibration = Calibration.from_set(args.calib) if args.calib is not None else None
    if args.check_frames is not None and not args.check:
        from amf_edge.errors import AmfEdgeError

        raise AmfEdgeError("--check-frames is only used by --check; add --check or drop --check-frames")
    build_engine(args.onnx, args.output, options, calibration=calibration, timing_cache=args.timing_cache,
                 force=args.force)
    return check_engine(args) if args.check else 0


def check_engine(args: argparse.Namespace) -> int:
    """--check: the engine against its ONNX on calibration frames, the result into the sidecar."""
    from amf_edge.cli.check import DEFAULT_FRAMES, frames
    from amf_edge.contract import read_metadata
    from amf_edge.convert.check import check_models, record_check

    meta = read_metadata(args.onnx)
    chosen = args.check_frames or args.calib
    if chosen is None:
        recorded = ((meta.get("quantization") or {}).get("calibration") or {}).get("set")
        if recorded and (Path("calib_data") / recorded / "manifest.json").is_file():
            chosen = Path("calib_data") / recorded
    _, height, width, _ = meta["input_contract"]["rgb"]["shape"]
    samples, what = frames(argparse.Namespace(frames=chosen), height, width, DEFAULT_FRAMES)
    result = check_models(args.output, args.onnx, samples, frames_from=what, limit=DEFAULT_FRAMES)
    record_check(args.output, result)
    print(result.summary())
    return 0 if result.passed else 1

