"""Spin-waiting: does letting ONNX Runtime's threads spin between operators take the cores from the rest of a live
pipeline? `amf-edge bench` at a camera's 30 FPS with sinks that cost CPU (an H.264 video, PNG masks, the MJPEG
preview), the settings alternating, models interleaved within each run:

    python -m experiments.spinning [--model runs/bench-cpu/asymfusion-r18-240x320/fp32-grouped.onnx] [--pairs 2]

Prints a Markdown table (docs/benchmarks.md: Spin-waiting). The runtime's setting is
amf_edge.runtime.backends.ort.session_options(spinning=...); this script swaps its default for each run.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

DEFAULT_MODEL = Path("runs/bench-cpu/asymfusion-r18-240x320/fp32-grouped.onnx")  # made by `make benchmarks`


def run_once(model: Path, spinning: bool, work: Path, iters: int) -> dict:
    import amf_edge.runtime.backends.ort as ort_backend
    from amf_edge.cli.main import main

    real = ort_backend.session_options
    ort_backend.session_options = functools.partial(real, spinning=spinning)
    try:
        out = work / f"spin-{int(spinning)}-{len(list(work.iterdir()))}"
        args = ["bench", str(model), "--iters", str(iters), "--rounds", "3", "--rate", "30",
                "--sink", f"video://{out}.mp4", "--sink", f"masks://{out}-masks", "--sink", "http://127.0.0.1:0",
                "--report", str(out), "--no-plots"]
        if main(args) != 0:
            raise SystemExit(f"amf-edge {' '.join(args)} failed")
    finally:
        ort_backend.session_options = real
    m = json.loads((out / "report.json").read_text())["models"][0]
    e2e = m["end_to_end"]
    return {"backend_p50": m["backend_only"]["latency_ms"]["p50"], "e2e_p50": e2e["latency_ms"]["p50"],
            "e2e_p90": e2e["latency_ms"]["p90"], "dropped": e2e["dropped"], "frames": e2e["frames"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--pairs", type=int, default=2, help="runs per setting, alternating (default: 2)")
    parser.add_argument("--iters", type=int, default=60, help="frames out per run (default: 60)")
    args = parser.parse_args(argv)
    if not args.model.is_file():
        parser.error(f"{args.model} does not exist: run `make benchmarks` first, or pass --model MODEL.onnx")
    runs: dict[bool, list[dict]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="amf-edge-spin-") as tmp:
        for _ in range(args.pairs):
            for spinning in (False, True):
                runs[spinning].append(run_once(args.model, spinning, Path(tmp), args.iters))
    lines = ["| ONNX Runtime threads | backend p50 ms | e2e p50 ms | e2e p90 ms | frames dropped per frame out |",
             "|---|---|---|---|---|"]
    for spinning, found in runs.items():
        cells = [" / ".join(f"{r[key]:.1f}" for r in found) for key in ("backend_p50", "e2e_p50", "e2e_p90")]
        drops = " / ".join(f"{r['dropped'] / r['frames']:.2f}" for r in found)
        lines.append(f"| {'spinning' if spinning else 'not spinning'} | {' | '.join(cells)} | {drops} |")
    ratio = np.median([r["e2e_p50"] for r in runs[True]]) / np.median([r["e2e_p50"] for r in runs[False]])
    lines += ["", f"e2e p50, spinning ÷ not spinning (medians of the runs): {ratio:.3f}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
