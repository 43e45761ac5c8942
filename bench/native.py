"""The native baseline: frames dumped for the C++ runner, and the runner itself run beside the Python one.

`dump_frames` writes model inputs as .npy files with a frames.json manifest (format "amf-edge-frames",
version 1), a format any language reads without an image library; the C++ runner (native/, built by
CMake) measures the same engine on exactly these inputs and writes a report in the bench schema, whose
backend-only numbers `run_native` puts beside the Python runtime's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from amf_edge.errors import AmfEdgeError

FORMAT, VERSION = "amf-edge-frames", 1
TOOL = "amf-edge-bench-native"
BUILD_DIR = Path(__file__).resolve().parent.parent / "build" / "native"


def dump_frames(inputs: Sequence[dict[str, np.ndarray]], directory: Path) -> Path:
    """Write {"rgb", "depth"} model inputs as DIR/NNNNNN-rgb.npy, NNNNNN-depth.npy and DIR/frames.json."""
    if not inputs:
        raise AmfEdgeError("no frames to dump")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    first = inputs[0]
    _, height, width, _ = first["rgb"].shape
    files = []
    for i, frame in enumerate(inputs):
        names = {name: f"{i:06d}-{name}.npy" for name in ("rgb", "depth")}
        for name, file in names.items():
            np.save(directory / file, np.ascontiguousarray(frame[name]))
        files.append(names)
    manifest = {
        "format": FORMAT, "version": VERSION, "count": len(inputs), "height": int(height), "width": int(width),
        "inputs": {name: {"dtype": first[name].dtype.name, "shape": list(first[name].shape)}
                   for name in ("rgb", "depth")},
        "frames": files,
    }
    path = directory / "frames.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def load_dumped_frames(directory: Path) -> list[dict[str, np.ndarray]]:
    """The inputs `dump_frames` wrote (for tests, and for tools that want them back)."""
    path = Path(directory) / "frames.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise AmfEdgeError(f"{path}: cannot read the frames manifest ({e}); write it with `amf-edge bench "
                           "--dump-frames DIR`") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise AmfEdgeError(f"{path}: expected format {FORMAT!r} version {VERSION}, got {manifest.get('format')!r} "
                           f"version {manifest.get('version')!r}")
    return [{name: np.load(path.parent / file) for name, file in entry.items()} for entry in manifest["frames"]]


def find_tool() -> Path | None:
    """$AMF_EDGE_NATIVE, then this checkout's build/native (`make native`), then PATH (an installed runner)."""
    candidates = [os.environ.get("AMF_EDGE_NATIVE"), BUILD_DIR / TOOL, shutil.which(TOOL)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def require_tool() -> Path:
    tool = find_tool()
    if tool is None:
        raise AmfEdgeError(f"--native: the C++ runner {TOOL} was not found ($AMF_EDGE_NATIVE, {BUILD_DIR}, PATH); "
                           "build it where TensorRT is installed: `make native` (README: Native runner)")
    return tool


def run_native(tool: Path, engine: Path, frames: Path, *, iterations: int, warmup_s: float, cuda_graph: bool,
               report: Path) -> dict:
    """Run the C++ runner on `engine` and `frames`; its report (the bench schema), read back."""
    argv = [str(tool), str(engine), "--frames", str(frames), "--iters", str(iterations), "--warmup-s", f"{warmup_s:g}",
            "--report", str(report)] + (["--cuda-graph"] if cuda_graph else [])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=max(120.0, 60 + 2 * warmup_s + iterations))
    except subprocess.TimeoutExpired:
        raise AmfEdgeError(f"{TOOL} did not finish: {' '.join(argv)}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise AmfEdgeError(f"{TOOL} failed (exit {done.returncode}): " + " / ".join(tail))
    result = json.loads(report.read_text())
    result["command"] = " ".join(argv)
    return result


def beside(native_report: dict, python_model: dict) -> dict:
    """The report's `native` entry for one model: the runner's numbers and Python over native."""
    from amf_edge.bench.stats import ratio

    native = native_report["models"][0]["backend_only"]
    python_e2e = (python_model.get("end_to_end") or {}).get("throughput_fps")
    return {
        "command": native_report["command"],
        "backend_only": {k: native.get(k) for k in ("timer", "iterations", "throughput_fps", "latency_ms", "compute_ms",
                                                    "host_ms")},
        "python_over_native": {
            "backend_only_p50": ratio(python_model["backend_only"]["latency_ms"]["p50"], native["latency_ms"]["p50"]),
            "end_to_end_throughput": ratio(python_e2e, native["throughput_fps"]),
        },
    }


def check_native(models: Sequence[Path]) -> Path:
    """The C++ runner for `amf-edge bench --native`, checked before any model loads: it measures engines only."""
    if not any(m.suffix.lower() == ".engine" for m in models):
        raise AmfEdgeError("--native runs the C++ runner on TensorRT engines; no .engine model was given")
    return require_tool()


def run_beside(tool: Path, subjects: Sequence, result: dict, *, iterations: int, warmup_s: float,
               report_dir: Path | None, log: Callable[[str], None] = print) -> None:
    """Run the C++ runner on every engine among the measured subjects (amf_edge.bench.measure.Subject), on the
    inputs they were measured on, and put its numbers beside theirs in the report `result` (each model's
    `native`). Its frames and report go to REPORT_DIR/native/NN, or to a scratch folder without a report."""
    import tempfile

    entries = {m["name"]: m for m in result["models"]}
    with tempfile.TemporaryDirectory(prefix="amf-edge-native-") as scratch:
        for i, s in enumerate(subjects):
            if s.format != "engine":
                continue
            where = (report_dir / "native" if report_dir is not None else Path(scratch)) / f"{i:02d}"
            frames = dump_frames(s.inputs, where / "frames").parent
            ran = run_native(tool, s.path, frames, iterations=iterations, warmup_s=warmup_s,
                             cuda_graph=s.cuda_graph, report=where / "report.json")
            entries[s.name]["native"] = beside(ran, entries[s.name])
            ratios = entries[s.name]["native"]["python_over_native"]
            log(f"native {s.name}: Python/native p50 {ratios['backend_only_p50']}, "
                f"end-to-end throughput Python/native {ratios['end_to_end_throughput']}")
