"""What the quantized variants cost in ONNX Runtime on this CPU, per kind of session (docs/benchmarks.md).

    python -m experiments.int8_sessions [--height 240 --width 320] [--rounds 11]

Makes an untrained asymfusion-r18 export (seeded) with its int8 (TensorRT placement) and int8-cpu variants,
then times, interleaved, labels out of:
  runtime    the runtime's session (amf_edge.runtime.backends.ort.session_options): fused integer kernels;
  +x64       the same with session.x64quantprecision=1, which the runtime sets only on x86 without VNNI;
  scoring    the session every accuracy figure uses (amf_edge.onnxrt.scoring_options): Q/DQ as float ops.
Prints a markdown table: median milliseconds and the ratio to FP32 in the runtime's session.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def make_models(folder: Path, height: int, width: int) -> dict[str, Path]:
    import torch

    from amf_edge.calibset import CalibrationSet
    from amf_edge.checkpoint import load_checkpoint, save_checkpoint
    from amf_edge.convert.export import export_onnx
    from amf_edge.convert.quantize import QuantizeOptions, make_variant
    from amf_edge.models import build_model
    from amf_edge.preprocess import PreprocessSpec
    from amf_edge.synthetic import SYNTHETIC_LABELS

    torch.manual_seed(0)
    model = build_model("asymfusion-r18", num_classes=SYNTHETIC_LABELS.num_classes).eval()
    ckpt = save_checkpoint(folder / "r18.pt", model, labels=SYNTHETIC_LABELS, preprocess=PreprocessSpec(),
                           meta={"preset": "asymfusion-r18"})
    paths = {"fp32": export_onnx(load_checkpoint(ckpt), "0" * 64, folder / "fp32.onnx", height=height, width=width)}
    calib = CalibrationSet.open(Path(__file__).resolve().parents[1] / "calib_data" / "synthetic-240x320")
    for precision in ("int8", "int8-cpu"):
        paths[precision] = make_variant(paths["fp32"], folder / f"{precision}.onnx",
                                        QuantizeOptions(precision, method="minmax"), calib=calib)
    return paths


def sessions(paths: dict[str, Path]) -> dict[str, object]:
    import onnxruntime as ort

    from amf_edge.onnxrt import scoring_options
    from amf_edge.runtime.backends.ort import session_options

    def open_(path, options):
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    found = {}
    for precision, path in paths.items():
        runtime = session_options(ort)
        found[f"{precision}, runtime"] = open_(path, runtime)
        if precision == "fp32":
            continue
        x64 = session_options(ort)
        x64.add_session_config_entry("session.x64quantprecision", "1")
        found[f"{precision}, +x64"] = open_(path, x64)
        found[f"{precision}, scoring"] = open_(path, scoring_options(ort, precision))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    from amf_edge.runtime.backends.ort import saturating_int8_host
    from amf_edge.synthetic import SyntheticScenes

    sample = next(iter(SyntheticScenes(seed=1, n=1, height=args.height, width=args.width)))
    feed = {"rgb": sample.rgb[None], "depth": sample.depth_m()[None]}
    with tempfile.TemporaryDirectory(prefix="amf-edge-int8-") as tmp:
        runs = sessions(make_models(Path(tmp), args.height, args.width))
        for session in runs.values():
            session.run(["labels"], feed)  # warm-up
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):  # interleaved: every session sees the same machine
            for name, session in runs.items():
                start = time.perf_counter()
                session.run(["labels"], feed)
                times[name].append(time.perf_counter() - start)
    fp32 = np.median(times["fp32, runtime"])
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
               platform.machine())
    print(f"asymfusion-r18 (untrained), {args.height}×{args.width}, {args.rounds} interleaved rounds, medians; "
          f"{cpu}, {'no VNNI' if saturating_int8_host() else 'VNNI'}\n")
    print("| model, session | latency | ÷ FP32 |\n|---|---|---|")
    for name, samples in times.items():
        print(f"| {name} | {1e3 * np.median(samples):.1f} ms | {np.median(samples) / fp32:.2f} |")


if __name__ == "__main__":
    main()
