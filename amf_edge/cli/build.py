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


def run(args: argparse.Namespace) -> int:
    from amf_edge.convert.build import build_engine
    from amf_edge.convert.build_options import BuildOptions
    from amf_edge.convert.calibrator import Calibration

    options = BuildOptions(workspace_mib=args.workspace, opt_level=args.opt_level, dla_core=args.dla,
                           version_compatible=args.version_compatible, hardware_compat=args.hardware_compat,
                           fp16=args.fp16, int8=args.int8)
    calibration = Calibration.from_set(args.calib) if args.calib is not None else None
    build_engine(args.onnx, args.output, options, calibration=calibration, timing_cache=args.timing_cache,
                 force=args.force)
    return 0

