"""FP32 vs FP16 vs INT8 vs INT8-CPU of one trained checkpoint, for docs/results/precision.md.

Exports the checkpoint, makes every precision variant with the real commands' code (int8 and int8-cpu
with the sensitivity pass at --max-drop), and scores all of them in ONNX Runtime on held-out synthetic
scenes: ensemble mIoU, pixel agreement with FP32, the worst per-class IoU drop, and the kept layers.

    python -m experiments.precision runs/precision-r18/best.pt --out runs/precision \\
        --height 120 --width 160 --val "synthetic://?seed=9&n=8&val=200&height=120&width=160"
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

from amf_edge import load_checkpoint
from amf_edge.calibset import CalibrationSet
from amf_edge.convert.export import export_onnx
from amf_edge.convert.quantize import QuantizeOptions, make_variant
from amf_edge.convert.sensitivity import find_kept_layers
from amf_edge.datasets import open_dataset
from amf_edge.files import file_sha256
from amf_edge.metrics import score_predictions
from amf_edge.onnxrt import OnnxPredictor

PRECISIONS = ("fp32", "fp16", "int8", "int8-cpu")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("runs/precision"))
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--calib", type=Path, default=Path("calib_data/synthetic-240x320"))
    p.add_argument("--method", default="minmax")
    p.add_argument("--max-drop", type=float, default=1.0)
    p.add_argument("--val", default="synthetic://?seed=9&n=8&val=200&height=120&width=160")
    p.add_argument("--sensitivity-frames", type=int, default=64)
    p.add_argument("--report", type=Path, default=Path("docs/results/precision.md"))
    args = p.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(args.checkpoint)
    fp32 = export_onnx(ckpt, file_sha256(args.checkpoint), args.out / "fp32.onnx", height=args.height, width=args.width)
    calib, val = CalibrationSet.open(args.calib), open_dataset(args.val, "val")
    paths, kept = {"fp32": fp32}, {}
    paths["fp16"] = make_variant(fp32, args.out / "fp16.onnx", QuantizeOptions("fp16"))
    for precision in ("int8", "int8-cpu"):
        out = args.out / f"{precision}.onnx"
        report = find_kept_layers(fp32, out, QuantizeOptions(precision, args.method), calib,
                                  args.out / f"{precision}.calib.json", val, max_drop=args.max_drop,
                                  limit=args.sensitivity_frames, progress=True)
        paths[precision], kept[precision] = out, report
    results = {name: evaluate(path, val) for name, path in paths.items()}
    reference = results["fp32"].pop("labels")
    for r in results.values():
        labels = r.pop("labels", reference)
        r["agreement"] = float(np.mean([(a == b).mean() for a, b in zip(labels, reference)]))
    (args.out / "results.json").write_text(json.dumps({"results": results, "sensitivity": kept}, indent=1))
    args.report.write_text(markdown(args, ckpt, results, kept, len(val)))
    print(f"wrote {args.report}")


def evaluate(path: Path, val) -> dict:
    predict, labels = OnnxPredictor(path), []
    scores = score_predictions(predict, val, val.labels.num_classes, progress=path.name,
                               on_prediction=lambda i, s, p: labels.append(p["ensemble"]))
    s = scores["heads"]["ensemble"]
    return {"miou": s["miou"], "iou": s["iou"], "pixel_acc": s["pixel_acc"], "labels": labels,
            "size_mb": path.stat().st_size / 1e6}


def markdown(args, ckpt, results: dict, kept: dict, n_val: int) -> str:
    names = ckpt.labels.names
    base = results["fp32"]
    lines = [
        "# Precision variants: FP32 vs FP16 vs INT8 vs INT8-CPU",
        "",
        f"Model: `{args.checkpoint}` ({ckpt.meta.get('preset', '?')}, {ckpt.labels.num_classes} classes of "
        f"`{ckpt.labels.name}`), exported at {args.height}×{args.width} (grouped layout).",
        f"Validation: {n_val} held-out scenes `{args.val}` (split val; the training run never saw seed 9).",
        f"Calibration: `{args.calib}` ({args.method}); sensitivity pass with --max-drop {args.max_drop} on the first "
        f"{args.sensitivity_frames} validation scenes. All numbers from ONNX Runtime on the CPU in exact "
        "arithmetic (`amf_edge.onnxrt.scoring_options`: Q/DQ as float operations, no integer kernel of the host), "
        f"so they are the same on any x86 host, with or without VNNI (this run: {platform.machine()}).",
        "",
        "| precision | file (MB) | ensemble mIoU (%) | Δ vs FP32 | pixel agreement with FP32 (%) | worst class drop "
        "| kept in float |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in PRECISIONS:
        r = results[name]
        drops = [(b - a, n) for a, b, n in zip(r["iou"], base["iou"], names) if a is not None and b is not None]
        worst = max(drops, default=(0.0, "-"))
        worst = worst if worst[0] > 0 else (0.0, "none")
        keep = kept.get(name, {}).get("kept")
        lines.append(f"| {name} | {r['size_mb']:.1f} | {100 * r['miou']:.2f} | "
                     f"{100 * (r['miou'] - base['miou']):+.2f} | {100 * r['agreement']:.2f} | "
                     f"{100 * worst[0]:+.2f} ({worst[1]}) | "
                     f"{'-' if keep is None else (', '.join(f'`{k}`' for k in keep) or 'none')} |")
    lines += ["", "Per-class IoU (%):", "", "| precision | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for name in PRECISIONS:
        lines.append(f"| {name} | " + " | ".join("-" if v is None else f"{100 * v:.1f}" for v in results[name]["iou"])
                     + " |")
    for name, report in kept.items():
        lines += ["", f"Sensitivity pass for {name}: FP32 {report['fp32_miou']:.2f}; steps "
                  + ", ".join(f"{s['kept']} kept → {s['miou']:.2f}" for s in report["steps"])]
        if report["ranking"]:
            top = ", ".join(f"`{r['node']}` ({100 * r['label_agreement_when_kept']:.2f}%)"
                            for r in report["ranking"][:5])
            lines.append(f"Most sensitive Convs (label agreement with FP32 when kept in float): {top}.")
    lines += ["", "Regenerate: `python -m experiments.precision " + str(args.checkpoint) + f" --method {args.method} "
              f"--height {args.height} --width {args.width} --val \"{args.val}\"`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
