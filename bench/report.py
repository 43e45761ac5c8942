"""The measurements as a report: the dict docs/bench-report.schema.json defines, written as report.json,
report.md and plots (amf_edge.bench.render)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from amf_edge import __version__
from amf_edge.bench.measure import Subject, peak_rss_mib
from amf_edge.bench.stats import ratio, summarize, throughput
from amf_edge.files import write_text_replacing
from amf_edge.runtime.pipeline import STAGES

SCHEMA = "amf-edge.bench/1"


def backend_only(s: Subject) -> dict:
    device = {k: v for k, v in s.device_ms.items() if v}
    # on a device, latency as trtexec measures it (events from the first upload to the last download);
    # the host's view, with staging and synchronisation, is then host_ms
    samples = device.get("latency", s.wall_ms)
    entry = {
        "timer": "cuda-events" if "latency" in device else "wall",
        "iterations": len(s.wall_ms),
        "throughput_fps": throughput(s.wall_ms),  # what a caller running inferences back to back gets
        "latency_ms": summarize(samples),
        "compute_ms": summarize(device.get("compute", [])),
        "upload_ms": summarize(device.get("upload", [])),
        "download_ms": summarize(device.get("download", [])),
        "samples_ms": [round(v, 4) for v in samples],
    }
    if "latency" in device:
        entry["host_ms"] = summarize(s.wall_ms)
    return entry


def capture_origin(subjects: Sequence[Subject]) -> float | None:
    """The perf_counter time the first end-to-end frame of the whole run was captured: capture_s's zero."""
    firsts = [turn[0] for s in subjects for turn in s.captures if turn]
    return min(firsts) if firsts else None


def end_to_end(s: Subject, backend_fps: float | None, policy: str, origin: float | None = None) -> dict | None:
    runs = [r for r in s.runs if r is not None]
    if not runs:
        return None
    columns: dict[str, list] = {}
    offset = 0.0
    for run in runs:  # the turns one after the other on one time axis
        for name, values in run.frames.items():
            shift = offset if name == "received_s" else 0.0
            columns.setdefault(name, []).extend(v + shift for v in values)
        offset += run.summary["wall_s"]
    frames = sum(r.summary["frames_out"] for r in runs)
    wall = sum(r.summary["wall_s"] for r in runs)
    fps = round(frames / wall, 3) if frames and wall > 0 else None
    keep = ["index", "received_s", "latency_ms", *(f"{stage}_ms" for stage in STAGES)]
    # the real time axis: each frame's capture on one clock for every model and round, other turns in the gaps
    captures = [t for turn in s.captures for t in turn]
    if origin is not None and len(captures) == len(columns.get("index", [])):
        columns["capture_s"] = [round(t - origin, 6) for t in captures]
        keep.insert(1, "capture_s")
    # the share of the runs' wall time the backend was at work: what the pipeline itself costs, measured in
    # the same runs (the efficiency against backend-only also carries the machine's drift between turns)
    in_backend = sum(sum(columns.get(f"{stage}_ms", [])) for stage in ("upload", "inference", "download")) / 1e3
    return {
        "policy": policy,
        "frames": frames,
        "dropped": sum(r.summary["dropped_total"] for r in runs),
        "wall_s": round(wall, 4),
        "throughput_fps": fps,
        "pipeline_efficiency": ratio(fps, backend_fps),
        "backend_busy": round(in_backend / wall, 4) if wall > 0 else None,
        "latency_ms": summarize(columns.get("latency_ms", [])),
        "stages_ms": {stage: summarize(columns.get(f"{stage}_ms", [])) for stage in STAGES},
        "samples": {name: columns.get(name, []) for name in keep},
    }


def model_entry(s: Subject, policy: str, trtexec: dict | None = None, origin: float | None = None) -> dict:
    contract, backend = s.backend.contract, s.backend
    frame_shape = s.inputs[0]["rgb"].shape if s.inputs else (1, contract.height, contract.width, 3)
    gpu = backend.device_memory_bytes
    only = backend_only(s)
    return {
        "name": s.name,
        "path": str(s.path),
        "format": s.format,
        "size_mib": round(s.path.stat().st_size / 2**20, 2),
        "precision": contract.precision,
        "layout": contract.metadata.get("layout"),
        "input": {"height": int(frame_shape[1]), "width": int(frame_shape[2])},
        "backend": backend.describe(),
        "variant": {"cuda_graph": s.cuda_graph},
        "load_s": s.load_s,
        "warmup": {"seconds": s.warmup_s, "iterations": s.warmup_iterations},
        "backend_only": only,
        "end_to_end": end_to_end(s, only["throughput_fps"], policy, origin),
        "memory": {"host_rss_mib": s.rss_mib, "host_rss_delta_mib": s.rss_delta_mib,
                   "gpu_mib": round(gpu / 2**20, 2) if gpu is not None else None},
        "ratios": {},
        "trtexec": trtexec,
    }


def add_ratios(models: list[dict]) -> None:
    """Every model over the first: latency ratios < 1 and throughput ratios > 1 mean faster."""
    first = models[0]

    def get(m, where, what):
        block = m[where]
        if block is None:
            return None
        value = block[what]
        return value["p50"] if isinstance(value, dict) else value

    for m in models:
        m["ratios"] = {
            "backend_only_p50": ratio(get(m, "backend_only", "latency_ms"), get(first, "backend_only", "latency_ms")),
            "backend_only_throughput": ratio(get(m, "backend_only", "throughput_fps"),
                                             get(first, "backend_only", "throughput_fps")),
            "end_to_end_p50": ratio(get(m, "end_to_end", "latency_ms"), get(first, "end_to_end", "latency_ms")),
            "end_to_end_throughput": ratio(get(m, "end_to_end", "throughput_fps"),
                                           get(first, "end_to_end", "throughput_fps")),
        }


def assemble(subjects: Sequence[Subject], *, command: str, environment: dict, settings: dict,
             trtexec: dict[str, dict] | None = None, notes: Sequence[str] = (),
             implementation: str = "python") -> dict:
    trtexec = trtexec or {}
    origin = capture_origin(subjects)
    models = [model_entry(s, settings.get("policy") or "lossless", trtexec.get(s.name), origin) for s in subjects]
    add_ratios(models)
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "tool": {"name": "amf-edge", "version": __version__, "implementation": implementation},
        "environment": environment,
        "settings": settings,
        "models": models,
        "peak_host_rss_mib": peak_rss_mib(),
        "notes": list(notes),
    }


def write_json(report: dict, path: Path) -> Path:
    """Atomically: a report is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_replacing(path, json.dumps(report, indent=1, default=_plain) + "\n")
    return path


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write(report: dict, directory: Path, *, plots: bool = True) -> list[Path]:
    """report.json, report.md and (with `plots`) the PNGs; the JSON and Markdown first, so a plotting
    problem loses nothing measured."""
    from amf_edge.bench import render

    directory = Path(directory)
    written = [write_json(report, directory / "report.json")]
    if plots:
        written += render.write_plots(report, directory)
    written.append(render.write_markdown(report, directory / "report.md"))
    return written


def describe_pacing(rate: float | None, rate_from: str | None, policy: str) -> str:
    """How the end-to-end runs fed the frames, in words (the terminal and report.md)."""
    if rate is None:
        return (f"saturation: frames in a burst, as fast as the pipeline takes them ({policy} policy); the "
                "throughput is the pipeline's maximum and the latency mostly time in the queues")
    origin = {"source": "the source's rate", "default": "a camera's rate: the source has no timestamps",
              "option": "--rate"}.get(rate_from or "")
    return (f"paced at {rate:g} FPS" + (f" ({origin})" if origin else "") +
            f" with the {policy} policy, as a camera runs; --rate 0 measures saturation")


def terminal_summary(report: dict) -> str:
    """A few aligned lines per model for the terminal, then the warnings; report.md has the full tables."""
    from amf_edge.bench.render import e2e_over_backend, efficiency_flags, end_to_end_mode

    mode = end_to_end_mode(report)
    rows = [("model", "backend", "p50 ms", "p99 ms", "jitter", "FPS", "×first", "e2e FPS",
             "e2e p50" + (" (saturation)" if mode == "saturation" else ""), "e2e/only", "eff.")]
    for m in report["models"]:
        only, e2e = m["backend_only"], m["end_to_end"] or {}
        lat, e2e_lat = only["latency_ms"], e2e.get("latency_ms") or {}
        rows.append((m["name"], f"{m['backend']['backend']} {m['precision']}", _f(lat["p50"]), _f(lat["p99"]),
                     _f(lat["jitter"]), _f(only["throughput_fps"], 1), _f(m["ratios"]["backend_only_p50"], 3),
                     _f(e2e.get("throughput_fps"), 1), _f(e2e_lat.get("p50")), _f(e2e_over_backend(m), 2),
                     _f(e2e.get("pipeline_efficiency"), 3)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines += [f"warning: {flag}" for flag in efficiency_flags(report)]
    return "\n".join(lines)


def _f(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
