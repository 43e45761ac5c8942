"""Check that a model computes what its source computes, on the same frames: an engine bundle or a
precision variant against the ONNX export it was made from.

Both run through Polygraphy's runners and comparator: TensorRT for .engine bundles (on the GPU they were
built for), ONNX Runtime for .onnx files (int8 graphs in exact arithmetic, the same on any CPU). The report
starts with one line: labels equal, class IoU agreement and logit error against thresholds that depend on
the lower precision of the two (printed; override them with the options below). Then the least agreeing
classes and frames, the mIoU of each side where the frames have ground truth (--data), and for two ONNX files
every Conv compared by module path: the first whose outputs diverge is named. Exit status 1 when a
threshold is missed.

frames (one of; default: synthetic validation scenes at the model's size):
  --frames calib_data/NAME   a calibration set (amf-edge calib collect)
  --source URI               a recording or camera, as `amf-edge run` reads it
  --data URI                 a labelled dataset (its val split): adds each side's mIoU

examples:
  amf-edge check r18.int8.onnx --against r18.onnx --frames calib_data/synthetic-240x320
  amf-edge check r18.engine                    # against the ONNX it was built from (its sidecar names it)
  amf-edge check r18.fp16.onnx --against r18.onnx --data "synthetic://?seed=9&n=8&val=32&height=240&width=320"
  amf-edge check r18.int8.onnx --against r18.onnx --source bag://walk.db3 --n 64 --min-label-agreement 99
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "compare an engine or a precision variant with its ONNX on the same frames (Polygraphy)"
EXTRAS = "runtime,trt"  # pip install "amf-edge[runtime,trt]": ONNX Runtime and Polygraphy (TensorRT comes apart)
DEFAULT_FRAMES = 16


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, metavar="ENGINE_OR_MODEL", help="an .engine bundle or an .onnx file")
    parser.add_argument("--against", type=Path, metavar="MODEL.onnx",
                        help="the reference (default for an engine: the ONNX its sidecar names)")
    add_frame_args(parser)
    parser.add_argument("--n", type=int, default=DEFAULT_FRAMES, metavar="N",
                        help=f"frames to compare on (default: {DEFAULT_FRAMES})")
    add_threshold_args(parser)
    parser.add_argument("--no-layers", action="store_true",
                        help="skip comparing every Conv's output (ONNX pairs; faster on large models)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_frame_args(parser: argparse.ArgumentParser) -> None:
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument("--frames", type=Path, metavar="calib_data/NAME", help="a calibration set")
    frames.add_argument("--source", metavar="URI", help="a frame source, e.g. bag://walk.db3")
    frames.add_argument("--data", metavar="URI", help="a labelled dataset (val split): also reports each side's mIoU")


def add_threshold_args(parser: argparse.ArgumentParser) -> None:
    t = parser.add_argument_group("thresholds (defaults by the lower precision of the two, printed in the report)")
    t.add_argument("--min-label-agreement", type=float, metavar="PERCENT", help="pixels with the same class")
    t.add_argument("--min-iou-agreement", type=float, metavar="PERCENT",
                   help="mean over classes of the IoU between the two sides' masks")
    t.add_argument("--max-logit-error", type=float, metavar="RATIO",
                   help="mean |Δ| of the logits over the reference's mean |logit|, on any frame")
    t.add_argument("--max-layer-error", type=float, metavar="RATIO", help="the same ratio for each Conv's output")


def overrides(args: argparse.Namespace) -> dict:
    from amf_edge.errors import AmfEdgeError

    names = ("min_label_agreement", "min_iou_agreement", "max_logit_error", "max_layer_error")
    out = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    for name, value in out.items():
        if value < 0 or (name.startswith("min_") and value > 100):
            flag = "--" + name.replace("_", "-")
            raise AmfEdgeError(f"{flag} must be {'a percentage 0–100' if name.startswith('min_') else '≥ 0'}, "
                               f"got {value:g}")
    return out


def frames(args: argparse.Namespace, height: int, width: int, n: int):
    """(samples, what they are) from --frames, --source or --data; synthetic scenes at H×W by default."""
    from amf_edge.datasets import open_dataset

    if getattr(args, "frames", None) is not None:
        from amf_edge.calibset import CalibrationSet

        return CalibrationSet.open(args.frames).samples(), str(args.frames)
    if getattr(args, "source", None):
        return _source_samples(args.source), args.source
    uri = getattr(args, "data", None) or f"synthetic://?seed=9&n=1&val={n}&height={height}&width={width}"
    dataset = open_dataset(uri, "val")
    return (dataset[i] for i in range(len(dataset))), (args.data if getattr(args, "data", None) else "synthetic")


def _source_samples(uri: str):
    from amf_edge.runtime.sources import open_source

    with open_source(uri) as source:
        for frame in source:
            yield frame.sample


def against_for(model: Path, against: Path | None) -> Path:
    """--against, or for an engine the ONNX it was built from, found where the build read it and unchanged."""
    from amf_edge.bundle import read_bundle
    from amf_edge.errors import AmfEdgeError
    from amf_edge.files import file_sha256

    if against is not None:
        return against
    if model.suffix.lower() != ".engine":
        raise AmfEdgeError(f"{model}: pass --against MODEL.onnx, the export it was made from (e.g. `amf-edge check "
                           f"{model} --against r18.onnx`); only an engine's sidecar names its ONNX")
    recorded = read_bundle(model).onnx
    path = Path(recorded.get("path", ""))
    candidates = [path, model.parent / path.name]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise AmfEdgeError(f"{model} was built from {path}, which is not there (nor beside the engine); pass "
                           "--against MODEL.onnx")
    if file_sha256(found) != recorded.get("sha256"):
        raise AmfEdgeError(f"{found} changed since {model} was built from it (its sha256 differs from the sidecar's); "
                           f"rebuild the engine, or pass the original with --against")
    return found


def run(args: argparse.Namespace) -> int:
    from amf_edge.cli.main import broken_model_metadata
    from amf_edge.convert.check import check_models
    from amf_edge.convert.check_runners import open_side
    from amf_edge.errors import AmfEdgeError

    if args.n < 1:
        raise AmfEdgeError(f"--n must be at least 1, got {args.n}")
    try:
        import polygraphy  # noqa: F401
    except ModuleNotFoundError:  # the generic hint would name [convert], which brings torch: not for a Jetson
        raise AmfEdgeError(f"amf-edge check runs models through Polygraphy, which is not installed: "
                           f'pip install "amf-edge[{EXTRAS}]" (or pip install polygraphy)') from None
    limits = overrides(args)
    against = against_for(args.model, args.against)
    with broken_model_metadata(against):
        contract = open_side(against).contract
    samples, what = frames(args, contract.height, contract.width, args.n)
    with broken_model_metadata(args.model):
        result = check_models(args.model, against, samples, frames_from=what, limit=args.n, overrides=limits,
                              layers=not args.no_layers)
    print(json.dumps(result.to_dict(), indent=1) if args.json else report(result))
    return 0 if result.passed else 1


def report(result) -> str:
    return "\n".join([result.summary(), *("  " + line for line in result.details())])
