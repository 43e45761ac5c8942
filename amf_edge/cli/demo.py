"""Train an edge model on synthetic RGB-D scenes, evaluate it on held-out scenes, and segment new frames.

1. trains asymfusion-r18 with train/configs/synthetic-r18.yaml into OUT/train (a few minutes on
   2 CPU cores); a finished run there is reused, so run the demo again to see only the inference;
2. evaluates it on the recipe's held-out validation scenes (every head: rgb, depth, ensemble);
3. segments new synthetic frames (another seed) through the preprocessing contract and writes
   rgb | depth | ground truth | prediction pictures to OUT/frames/;
4. exports the model to ONNX at the size of the scenes it trained on (OUT/model.onnx, reused while the
   checkpoint is unchanged), makes its fp16 and int8 variants (int8 calibrated on
   calib_data/synthetic-240x320) and prints what each loses on held-out scenes, scored in the arithmetic
   TensorRT runs; where TensorRT is installed, the `amf-edge build` commands for them;
5. streams a synthetic recording through the FP32 model with the runtime (`amf-edge run`):
   OUT/overlay.mp4 and OUT/stats.json, then the summary (FPS, latency percentiles, stage times).

KEY=VALUE arguments override the training recipe (as for `amf-edge train`).

examples:
  amf-edge demo
  amf-edge demo --out /tmp/demo optim.stages.0.epochs=1
  amf-edge demo --checkpoint runs/r18/best.pt --frames 8
  amf-edge demo --stream-frames 0          # skip the export and the streaming
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from amf_edge.arguments import positive_size
from amf_edge.runtime.sinks.base import Sink

HELP = "train an edge model on synthetic scenes, evaluate it and segment new frames"
CALIBRATION_SET = Path(__file__).resolve().parents[2] / "calib_data" / "synthetic-240x320"
DEMO_CAMERA_FPS = 15.0  # the streamed synthetic camera's rate
DEMO_VAL_SEED, DEMO_VAL_FRAMES = 77, 32  # held-out scenes (the val stream of a seed nothing trains on)
EXTRAS = "train,convert"  # pip install "amf-edge[train,convert]" brings what this command needs


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder (default: demo-output)")
    parser.add_argument("--checkpoint", type=Path, help="segment with this checkpoint instead of training one")
    parser.add_argument("--frames", type=int, default=4, help="new synthetic frames to segment (default: 4)")
    parser.add_argument("--height", type=positive_size,
                        help="frame and export height (default: the training scenes', 120 in the recipe)")
    parser.add_argument("--width", type=positive_size,
                        help="frame and export width (default: the training scenes', 160 in the recipe)")
    parser.add_argument("--seed", type=int, default=1000, help="seed of the new frames (default: 1000)")
    parser.add_argument("--stream-frames", type=int, default=30, metavar="N",
                        help="frames to stream through the exported model (default: 30; 0 skips export and streaming)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="training recipe overrides")


def run(args: argparse.Namespace) -> int:
    from amf_edge import load_checkpoint
    from amf_edge.errors import AmfEdgeError
    from amf_edge.files import check_output

    if args.frames < 1:
        raise AmfEdgeError(f"--frames must be at least 1, got {args.frames}")
    if args.stream_frames < 0:
        raise AmfEdgeError(f"--stream-frames must be 0 (skip) or more, got {args.stream_frames}")
    if args.checkpoint and args.overrides:
        raise AmfEdgeError("recipe overrides only apply when the demo trains; drop them or drop --checkpoint")
    check_output(args.out, "--out", folder=True)  # before training, not at the first file it writes
    # A model segments best at the scale it learnt: export and stream at the training scenes' size.
    scenes = _training_scenes(args.overrides)
    args.height, args.width = args.height or scenes.height, args.width or scenes.width
    path = args.checkpoint or _train(args.out / "train", args.overrides)
    ckpt = load_checkpoint(path)
    _segment(ckpt, args)
    if args.stream_frames:
        _stream(ckpt, path, args)
    return 0


def _training_scenes(overrides: list[str]):
    from amf_edge.synthetic import parse_synthetic_uri
    from amf_edge.train.config import load_config

    return parse_synthetic_uri(load_config("synthetic-r18", overrides).data.train)


def _train(out: Path, overrides: list[str]) -> Path:
    from amf_edge import load_checkpoint
    from amf_edge.datasets import open_dataset
    from amf_edge.errors import AmfEdgeError
    from amf_edge.train.config import dump_config, load_config
    from amf_edge.train.evaluate import evaluate, format_scores
    from amf_edge.train.loop import train

    config = load_config("synthetic-r18", overrides)
    best = out / "best.pt"
    if best.exists() and (out / "config.yaml").read_text() == dump_config(config):
        print(f"using the model trained earlier in {out} (delete the folder to train again)")
    else:
        if (out / "last.pt").exists():
            raise AmfEdgeError(f"{out} holds a demo run with another recipe; delete it or pass another --out")
        print(f"training asymfusion-r18 on synthetic scenes for {config.epochs} epochs (a few minutes on 2 CPU cores)")
        start = time.perf_counter()
        train(config, out)
        print(f"trained in {(time.perf_counter() - start) / 60:.1f} min")
    ckpt = load_checkpoint(best)
    val = open_dataset(config.data.val or config.data.train, "val")
    print(f"held-out validation scenes ({len(val)}):\n" + format_scores(evaluate(ckpt.model, val, ckpt.preprocess)))
    return best


def _segment(ckpt, args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from amf_edge.models import upsample_logits
    from amf_edge.synthetic import SyntheticScenes
    from amf_edge.visualize import colorize_depth, mosaic, overlay, save_image

    labels, model = ckpt.labels, ckpt.model
    frames_dir = args.out / "frames"
    print(f"segmenting {args.frames} new synthetic frames of {args.height}×{args.width} with {ckpt.config.backbone} "
          f"({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, PyTorch on the CPU)")
    timings, correct, total = [], 0, 0
    for i, sample in enumerate(SyntheticScenes(seed=args.seed, n=args.frames, height=args.height, width=args.width)):
        start = time.perf_counter()
        rgb, depth = (torch.from_numpy(a) for a in ckpt.preprocess(sample.rgb, sample.depth_m()))
        with torch.inference_mode():
            logits = upsample_logits(model(rgb, depth), sample.size)
        prediction = logits.argmax(1)[0].to(torch.uint8).numpy()
        timings.append(time.perf_counter() - start)
        valid = sample.label < labels.num_classes
        correct += int((prediction[valid] == sample.label[valid]).sum())
        total += int(valid.sum())
        picture = mosaic(sample.rgb, colorize_depth(sample.depth_m()), labels.colorize(sample.label),
                         overlay(sample.rgb, prediction, labels))
        save_image(frames_dir / f"frame_{i:03d}.png", picture)
    print(f"median {np.median(timings) * 1e3:.1f} ms per frame (preprocess + model + upsample + argmax, "
          f"{torch.get_num_threads()} threads); pixel accuracy {correct / max(total, 1):.1%} on these frames; "
          f"pictures (rgb | depth | truth | prediction) in {frames_dir}/")


def _stream(ckpt, ckpt_path: Path, args: argparse.Namespace) -> None:
    """Export to ONNX and stream a synthetic recording through it with the runtime, as `amf-edge run` does."""
    from urllib.parse import quote

    from amf_edge.contract import read_metadata
    from amf_edge.convert.export import DEFAULT_OUTPUT_STRIDE, export_onnx
    from amf_edge.files import file_sha256
    from amf_edge.runtime.backends import open_backend
    from amf_edge.runtime.pipeline import Pipeline
    from amf_edge.runtime.sinks import sink_from_uri
    from amf_edge.runtime.sources import open_source

    model, sha256 = args.out / "model.onnx", file_sha256(ckpt_path)
    meta = read_metadata(model) if model.is_file() else None
    if (meta and meta["checkpoint_sha256"] == sha256
            and meta["input_contract"]["rgb"]["shape"][1:3] == [args.height, args.width]
            and meta["input_contract"].get("output_stride", 1) == DEFAULT_OUTPUT_STRIDE):
        print(f"using the ONNX model exported earlier: {model}")
    else:
        start = time.perf_counter()
        export_onnx(ckpt, sha256, model, height=args.height, width=args.width)
        print(f"exported {model} ({args.height}×{args.width}, {model.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - start:.0f} s")
    _variants(model, args)
    video, stats = args.out / "overlay.mp4", args.out / "stats.json"
    # quote(): a folder name with spaces, ? or # must stay part of the path inside the URI
    accuracy = _AccuracySink()
    sinks = [sink_from_uri(f"video://{quote(str(video))}"), sink_from_uri(f"stats://{quote(str(stats))}"), accuracy]
    # at a camera's pace (live: the newest frame wins), so the summary's latency is what a robot would see
    source_uri = (f"synthetic://?seed={args.seed}&n={args.stream_frames}&height={args.height}&width={args.width}"
                  f"&fps={DEMO_CAMERA_FPS:g}")
    print(f"streaming {args.stream_frames} frames of {source_uri}, a {DEMO_CAMERA_FPS:g} FPS camera, through the ONNX "
          "model (amf-edge run):")
    with open_backend(model) as backend, open_source(source_uri) as source:
        Pipeline(source, backend, sinks).run()
    print(f"pixel accuracy {accuracy.score():.1%} on the streamed frames; overlay video {video}, "
          f"per-frame timings {stats}")


def _variants(model: Path, args: argparse.Namespace) -> None:
    """fp16 and int8 beside the FP32 export, and what each loses on held-out scenes in exact arithmetic."""
    import importlib.util

    from amf_edge.calibset import CalibrationSet
    from amf_edge.convert.quantize import QuantizeOptions, make_variant
    from amf_edge.convert.sensitivity import miou
    from amf_edge.errors import AmfEdgeError
    from amf_edge.synthetic import SYNTHETIC_LABELS, SyntheticScenes

    if not CALIBRATION_SET.is_dir():
        raise AmfEdgeError(f"the demo calibrates its int8 variant on {CALIBRATION_SET}, which is not there: run the "
                           "demo from a checkout of amf-edge (make demo), or pass --stream-frames 0")
    calib = CalibrationSet.open(CALIBRATION_SET)
    val = SyntheticScenes(seed=DEMO_VAL_SEED, n=DEMO_VAL_FRAMES, height=args.height, width=args.width, split="val")
    k = SYNTHETIC_LABELS.num_classes
    fp32 = 100 * miou(model, val, k, None)
    lines = [f"FP32 {fp32:.2f}"]
    paths = {}
    for precision in ("fp16", "int8"):
        path = paths[precision] = model.with_name(f"model.{precision}.onnx")
        if not path.is_file() or path.stat().st_mtime < model.stat().st_mtime:
            cache = path.with_name(path.name + ".calib.json")
            cache.unlink(missing_ok=True)  # the model was exported anew: its ranges are those of another file
            make_variant(model, path, QuantizeOptions(precision), calib=calib, cache=cache)
        score = 100 * miou(path, val, k, None)
        lines.append(f"{precision} {score:.2f} (drop {fp32 - score:+.2f})")
    print(f"ensemble mIoU on {len(val)} held-out scenes, in the arithmetic TensorRT runs: {', '.join(lines)}; "
          f"variants {paths['fp16']} and {paths['int8']}")
    if importlib.util.find_spec("tensorrt") is not None:
        print("TensorRT is installed: build engines with\n" + "\n".join(
            f"  amf-edge build {p} -o {p.with_suffix('.engine')}" for p in paths.values()))


class _AccuracySink(Sink):
    """Counts correct pixels against the synthetic source's ground truth."""

    def __init__(self):
        super().__init__("accuracy://")
        self.correct = self.total = 0

    def write(self, result) -> None:
        truth = result.frame.sample.label
        valid = truth < self.context.labels.num_classes
        self.correct += int((result.labels[valid] == truth[valid]).sum())
        self.total += int(valid.sum())
        self.written += 1

    def score(self) -> float:
        return self.correct / max(self.total, 1)
