"""Make an FP16, INT8 (Q/DQ) or INT8-CPU variant of an FP32 export, checked in ONNX Runtime.

Precision is decided in the ONNX graph, so TensorRT 10 and 11 (strongly typed) build the same file:
  fp16      network body in float16; pre/post-processing, argmax and softmax in float32; same I/O;
  int8      Q/DQ around every body Conv in TensorRT's scheme: symmetric int8 activations per tensor,
            symmetric int8 weights per output channel; calibrated on a calib_data/ set;
  int8-cpu  uint8 activations, the flavour ONNX Runtime runs fast on x86 CPUs (not for TensorRT).

Calibration ranges are cached beside the output (MODEL.calib.json), keyed by the FP32 model's sha256,
the calibration set's content and the preprocessing version: a stale cache is an error, not reused.

Every variant is scored against the FP32 model on --val (ensemble mIoU) in the arithmetic TensorRT runs,
the same on any CPU (Q/DQ as float operations, never ONNX Runtime's integer kernels, which saturate on x86
without VNNI). A drop beyond --budget (default 1.0 point) is an error and nothing is written. With
--max-drop, a sensitivity pass keeps the Convs whose quantization costs most mIoU in float until the
drop is within that many points.

--quantizer modelopt makes the int8 variant with NVIDIA ModelOpt instead of ONNX Runtime (--method minmax or
entropy: ModelOpt's max and entropy), in the environment `make modelopt` creates (.venv-modelopt: ModelOpt pins
its own onnx and onnxruntime-gpu); same metadata, lint, budget and scoring, no calibration cache.

examples:
  amf-edge quantize r18.onnx --precision fp16 -o r18.fp16.onnx
  amf-edge quantize r18.onnx --precision int8 --calib calib_data/synthetic-240x320 -o r18.int8.onnx
  amf-edge quantize r18.onnx --precision int8 --calib calib_data/synthetic-240x320 -o r18.int8.onnx \\
      --max-drop 1.0 --val "synthetic://?seed=9&n=64&height=240&width=320"
  amf-edge quantize r18.onnx --precision int8 --calib calib_data/synthetic-240x320 -o r18.mo.onnx \\
      --quantizer modelopt --method minmax
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "make fp16 / int8 (Q/DQ) / int8-cpu ONNX variants of an FP32 export"
DEFAULT_BUDGET = 1.0  # mIoU points
EXTRAS = "convert"  # pip install "amf-edge[convert]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL.onnx", help="FP32 ONNX from `amf-edge export`")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.onnx")
    parser.add_argument("--precision", required=True, choices=("fp16", "int8", "int8-cpu"))
    parser.add_argument("--calib", type=Path, metavar="DIR",
                        help="calibration set (calib_data/NAME), for int8 and int8-cpu")
    parser.add_argument("--method", default="minmax", choices=("entropy", "percentile", "minmax"),
                        help="calibration method (default: minmax, which measured best: docs/results/precision.md)")
    parser.add_argument("--quantizer", default="ort", choices=("ort", "modelopt"),
                        help="ONNX Runtime (default) or NVIDIA ModelOpt (int8 only; `make modelopt` installs it)")
    parser.add_argument("--percentile", type=float, default=99.99, help="for --method percentile (default: 99.99)")
    parser.add_argument("--calib-cache", type=Path, metavar="FILE", help="calibration cache (default: OUT.calib.json)")
    parser.add_argument("--recalibrate", action="store_true", help="discard the calibration cache and calibrate again")
    parser.add_argument("--keep", nargs="+", default=[], metavar="LAYER",
                        help="Convs to keep in float32, by module path as the export names them "
                             "(e.g. encoder.layer3.1.conv2, encoder.conv1[depth])")
    parser.add_argument("--max-drop", type=float, metavar="POINTS",
                        help="sensitivity pass: keep the costliest Convs in float until the mIoU drop is within POINTS")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET, metavar="POINTS",
                        help=f"the largest mIoU drop accepted without --max-drop (default: {DEFAULT_BUDGET})")
    parser.add_argument("--val", metavar="URI", help="labelled data for the checks and --max-drop (default: synthetic "
                                                     "validation scenes, for models trained on synthetic data)")
    parser.add_argument("--val-frames", type=int, default=32, metavar="N", help="validation frames (default: 32)")


def run(args: argparse.Namespace) -> int:
    import json

    from amf_edge.calibset import CalibrationSet
    from amf_edge.contract import read_metadata
    from amf_edge.convert.quantize import QuantizeOptions, make_variant
    from amf_edge.convert.sensitivity import find_kept_layers, miou
    from amf_edge.datasets import open_dataset
    from amf_edge.errors import AmfEdgeError
    from amf_edge.files import check_output

    options = QuantizeOptions(args.precision, args.method, args.percentile, tuple(args.keep), args.quantizer)
    if args.quantizer == "modelopt" and args.max_drop is not None:
        raise AmfEdgeError("--max-drop re-quantizes once per Conv, and ModelOpt calibrates on every run (no cache): "
                           "use it with --quantizer ort, or keep layers in float with --keep LAYER")
    if args.val_frames < 1:
        raise AmfEdgeError(f"--val-frames must be at least 1, got {args.val_frames}")
    # before calibration and scoring (minutes): the variant, its cache and the sensitivity report
    check_output(args.output, "-o/--output")
    if args.calib_cache is not None:
        check_output(args.calib_cache, "--calib-cache")
    calib = CalibrationSet.open(args.calib) if args.calib else None
    if calib is None and args.precision != "fp16":
        raise AmfEdgeError(f"--precision {args.precision} needs --calib calib_data/NAME "
                           "(make one with `amf-edge calib collect --source URI --n 64 -o calib_data/NAME`)")
    meta = _read_model(args.model, read_metadata)
    cache = args.calib_cache or args.output.with_name(args.output.name + ".calib.json")
    if args.recalibrate and cache.exists():
        cache.unlink()
    val = open_dataset(args.val or _default_val(meta), "val")
    if val.labels.num_classes != len(meta["labels"]["names"]):
        raise AmfEdgeError(f"--val {args.val!r} has {val.labels.num_classes} classes but the model predicts "
                           f"{len(meta['labels']['names'])}; validate on data with the model's classes")
    if args.max_drop is not None:
        report = find_kept_layers(args.model, args.output, options, calib, cache, val, max_drop=args.max_drop,
                                  limit=args.val_frames, progress=True)
        report_path = args.output.with_name(args.output.name + ".sensitivity.json")
        report_path.write_text(json.dumps(report, indent=1))
        print(f"sensitivity pass: kept {len(report['kept'])} Conv(s) in float ({', '.join(report['kept']) or 'none'}); "
              f"report in {report_path}")
        fp32, quantized = report["fp32_miou"], report["miou"]
    else:
        # scored under a name of its own first: a variant beyond the budget never takes the output's name
        unchecked = args.output.with_name(args.output.name + ".unchecked")
        make_variant(args.model, unchecked, options, calib=calib, cache=cache, progress=True)
        try:
            fp32 = 100 * miou(args.model, val, val.labels.num_classes, args.val_frames)
            quantized = 100 * miou(unchecked, val, val.labels.num_classes, args.val_frames)
            if fp32 - quantized > args.budget:
                raise AmfEdgeError(
                    f"{args.precision} loses {fp32 - quantized:.2f} mIoU points on {min(args.val_frames, len(val))} "
                    f"validation frames (FP32 {fp32:.2f}, {args.precision} {quantized:.2f}; budget {args.budget}), "
                    f"so {args.output} was not written. Keep the most sensitive layers in float with "
                    f"--max-drop {args.budget}, calibrate on frames closer to your data (amf-edge calib collect), "
                    "or accept the drop with --budget POINTS")
            unchecked.replace(args.output)
        finally:
            unchecked.unlink(missing_ok=True)
    size = args.output.stat().st_size / 1e6
    print(f"wrote {args.output} ({size:.1f} MB, {args.precision}); ensemble mIoU on {min(args.val_frames, len(val))} "
          f"validation frames: FP32 {fp32:.2f}, {args.precision} {quantized:.2f} (drop {fp32 - quantized:+.2f})")
    return 0


def _read_model(path: Path, read_metadata) -> dict:
    """The model's amf-edge metadata, or one line saying why the file is not a model to quantize."""
    import json

    from google.protobuf.message import DecodeError

    from amf_edge.errors import AmfEdgeError

    if not path.is_file():
        raise AmfEdgeError(f"model {path} does not exist" if not path.exists() else f"model {path} is not a file")
    try:
        return read_metadata(path)
    except DecodeError as e:  # a truncated or corrupt file: protobuf cannot parse it
        raise AmfEdgeError(f"{path} is not a readable ONNX model ({e}); expected an FP32 model written by amf-edge "
                           "export: export it again") from None
    except json.JSONDecodeError as e:
        raise AmfEdgeError(f"{path}: its amf-edge metadata is broken (JSONDecodeError: {e}); the file was changed "
                           "after amf-edge export or written by another tool: export it again") from None


def _default_val(meta: dict) -> str:
    from amf_edge.errors import AmfEdgeError
    from amf_edge.synthetic import SYNTHETIC_LABELS

    if meta["labels"]["names"] != list(SYNTHETIC_LABELS.names):
        raise AmfEdgeError("the model was not trained on synthetic scenes: pass --val URI with labelled data "
                           "of its classes (e.g. nyudv2:///data/nyudv2)")
    return "synthetic://?seed=9&n=8&val=64&height=240&width=320"
