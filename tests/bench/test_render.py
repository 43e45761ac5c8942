"""report.md and the plots of `amf-edge bench`, from a complete report that is checked against the schema."""

from __future__ import annotations

import copy
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from amf_edge.bench import render
from amf_edge.bench.stats import ratio, summarize, throughput
from amf_edge.errors import AmfEdgeError

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "bench-report.schema.json").read_text())
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DASH = "\u2013"


# ---------------------------------------------------------------------------------------------------- the report


def validate(report: dict) -> dict:
    """The report as `amf-edge bench` promises it: a schema change the helper no longer satisfies fails here."""
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    return report


def _end_to_end(rng: np.random.Generator, frames: int, base_ms: float) -> dict:
    """Per-frame stage columns whose latency is their sum (capture_wait excluded), and their statistics."""
    scales = {"capture_wait": 5.0, "sync": 0.8, "queue": 0.3, "preprocess": 1.5, "upload": 0.0, "inference": base_ms,
              "download": 0.0, "postprocess": 0.1, "sink": 0.6}
    columns = {f"{s}_ms": np.round(scale * (1 + 0.1 * rng.random(frames)), 4) for s, scale in scales.items()}
    latency = sum(columns[f"{s}_ms"] for s in render.LATENCY_STAGES)
    received = np.cumsum(np.full(frames, 1 / 30)) + latency / 1e3
    samples = {"index": list(range(frames)), "capture_s": (np.arange(frames) / 30).tolist(),
               "received_s": received.tolist(), "latency_ms": latency.tolist(),
               **{k: v.tolist() for k, v in columns.items()}}
    return {"policy": "live", "frames": frames, "dropped": 2, "wall_s": float(received[-1]),
            "throughput_fps": round(frames / float(received[-1]), 3), "pipeline_efficiency": 0.9731,
            "latency_ms": summarize(latency), "stages_ms": {s: summarize(columns[f"{s}_ms"]) for s in render.STAGES},
            "samples": samples}


def _model(rng: np.random.Generator, name: str, base_ms: float, gpu: bool, e2e: bool, iters: int) -> dict:
    latency = base_ms + rng.gamma(2.0, 0.05 * base_ms, iters)
    compute = latency * 0.8 if gpu else None
    wall = latency + 0.3 if gpu else latency  # on a device the host's wall clock (host_ms) adds its staging
    return {
        "name": name, "path": f"runs/{name.split()[0]}", "format": "engine" if gpu else "onnx", "size_mib": 48.2,
        "precision": "fp16" if gpu else "fp32", "layout": "nchw", "input": {"height": 480, "width": 640},
        "backend": ({"backend": "tensorrt", "device": "NVIDIA H100", "cuda_graph": "+graph" in name} if gpu else
                    {"backend": "onnxruntime", "device": "cpu", "provider": "CPUExecutionProvider"}),
        "variant": {"cuda_graph": "+graph" in name}, "load_s": 0.8, "warmup": {"seconds": 2.0, "iterations": 40},
        "backend_only": {
            "timer": "cuda-events" if gpu else "wall", "iterations": iters, "throughput_fps": throughput(wall),
            "latency_ms": summarize(latency), "compute_ms": summarize(compute) if gpu else None,
            "upload_ms": summarize(latency * 0.1) if gpu else None,
            "download_ms": summarize(latency * 0.05) if gpu else None, "samples_ms": latency.tolist(),
            **({"host_ms": summarize(wall)} if gpu else {})},
        "end_to_end": _end_to_end(rng, iters, base_ms) if e2e else None,
        "memory": {"host_rss_mib": 900.0, "host_rss_delta_mib": 35.5 if e2e else None,
                   "gpu_mib": 312.0 if gpu else None},
        "ratios": {},
        "trtexec": None,
    }


def _trtexec(rng: np.random.Generator, engine: str, ran: bool) -> dict:
    base = {"command": f"trtexec --loadEngine={engine} --useCudaGraph --iterations=200", "ran": ran}
    if not ran:
        return {**base, "error": None}
    return {**base, "throughput_qps": 410.5, "latency_ms": summarize(2.4 + rng.random(200)),
            "gpu_compute_ms": summarize(2.0 + rng.random(200)), "h2d_ms": None, "d2h_ms": None,
            "enqueue_ms": summarize(0.05 + 0.01 * rng.random(200)), "error": None}


def _ratios(models: list[dict]) -> None:
    first = models[0]
    for m in models:
        only, first_only = m["backend_only"], first["backend_only"]
        m["ratios"] = {
            "backend_only_p50": ratio(only["latency_ms"]["p50"], first_only["latency_ms"]["p50"]),
            "backend_only_throughput": ratio(only["throughput_fps"], first_only["throughput_fps"]),
            "end_to_end_p50": ratio(((m["end_to_end"] or {}).get("latency_ms") or {}).get("p50"),
                                    first["end_to_end"]["latency_ms"]["p50"]),
            "end_to_end_throughput": ratio((m["end_to_end"] or {}).get("throughput_fps"),
                                           first["end_to_end"]["throughput_fps"]),
        }


def make_report(iters: int = 300) -> dict:
    """Three models: ONNX Runtime on the CPU (end to end), a TensorRT engine (device times, trtexec, end to end),
    its CUDA-graph variant (backend only, trtexec not run)."""
    rng = np.random.default_rng(0)
    models = [_model(rng, "model_fp32.onnx", 40.0, gpu=False, e2e=True, iters=iters),
              _model(rng, "model_fp16.engine", 3.0, gpu=True, e2e=True, iters=iters),
              _model(rng, "model_fp16.engine +graph", 2.6, gpu=True, e2e=False, iters=iters)]
    models[1]["trtexec"] = _trtexec(rng, "model_fp16.engine", ran=True)
    models[2]["trtexec"] = _trtexec(rng, "model_fp16.engine", ran=False)
    _ratios(models)
    return validate({
        "schema": "amf-edge.bench/1", "created": "2026-05-09T07:35:25Z",
        "command": "amf-edge bench runs/model_fp32.onnx runs/model_fp16.engine --cuda-graph --out bench/",
        "tool": {"name": "amf-edge", "version": "0.1.0", "implementation": "python"},
        "environment": {
            "host": {"cpu": "AMD EPYC 9654", "cores_logical": 32, "cores_usable": 16, "memory_gib": 125.7,
                     "os": "Ubuntu 22.04", "kernel": "6.8.0", "machine": "x86_64"},
            "software": {"python": "3.11.7", "numpy": "2.4.6", "onnxruntime": "1.20.1", "tensorrt": "10.7.0",
                         "torch": None},
            "gpu": {"name": "NVIDIA H100 80GB HBM3", "driver": "560.35", "cuda_driver": "12.6", "cuda_runtime": "12.6",
                    "compute_capability": "9.0", "memory_mib": 81559},
            "jetson": None,
            "warnings": ["CPU frequency governor is 'powersave': latencies vary with load",
                         "only 16 of 32 cores are usable (cgroup limit)"],
        },
        "settings": {"source": "synthetic://?seed=0", "frames": 32, "iters": iters, "warmup_s": 2.0, "rounds": 1,
                     "policy": "live", "rate_fps": 30.0, "mode": "paced", "rate_from": "source",
                     "sinks": ["null"], "device": "auto", "threads": None,
                     "end_to_end": True},
        "models": models,
        "peak_host_rss_mib": 1024.0,
        "notes": ["the +graph variant replays one CUDA graph per inference"],
    })


# ---------------------------------------------------------------------------------------------------- parsing


def table(md: str, heading: str) -> list[dict[str, str]]:
    """The first table under `## heading` as rows of {header: cell}."""
    lines = md.splitlines()
    start = lines.index(f"## {heading}")
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break  # the table ended
    header, body = rows[0], rows[2:]  # rows[1] is the alignment row
    return [dict(zip(header, r, strict=True)) for r in body]


def names(rows: list[dict[str, str]]) -> list[str]:
    return [r["model"] for r in rows]


# ---------------------------------------------------------------------------------------------------- markdown


def test_each_table_has_one_row_per_model_it_covers():
    report = make_report()
    md = render.markdown(report)
    all_models = [m["name"] for m in report["models"]]
    assert names(table(md, "Backend only")) == all_models
    assert names(table(md, "End to end")) == all_models[:2]  # the third ran backend only
    assert names(table(md, "Stages (mean ms, end to end)")) == all_models[:2]
    assert names(table(md, "trtexec")) == ["model_fp16.engine"]  # the only one trtexec ran for
    assert md.count("trtexec --loadEngine=model_fp16.engine") == 2  # but both commands are printed
    assert "model_fp16.engine +graph (not run)" in md


def test_backend_only_cells_are_the_report_numbers():
    report = make_report()
    rows = table(render.markdown(report), "Backend only")
    first, engine = report["models"][0], report["models"][1]
    assert rows[1]["p99 ms"] == f"{engine['backend_only']['latency_ms']['p99']:.2f}"
    assert rows[1]["compute p50 ms"] == f"{engine['backend_only']['compute_ms']['p50']:.2f}"
    assert rows[0]["p50 vs first"] == "1.00×"
    assert rows[1]["p50 vs first"] == render._ratio(engine["ratios"]["backend_only_p50"]) == "0.075×"
    assert rows[0]["FPS"] == f"{first['backend_only']['throughput_fps']:.1f}"
    assert rows[0]["backend"] == "onnxruntime (cpu, CPUExecutionProvider)"
    assert rows[0]["input H×W"] == "480×640"


def test_stage_sum_adds_the_stages_without_capture_wait_and_matches_latency():
    report = make_report()
    rows = table(render.markdown(report), "Stages (mean ms, end to end)")
    assert list(rows[0])[1:] == [*render.STAGES, "sum", "latency mean"]
    for row, model in zip(rows, report["models"]):
        stages = model["end_to_end"]["stages_ms"]
        expected = sum(stages[s]["mean"] for s in render.LATENCY_STAGES)
        assert float(row["sum"]) == pytest.approx(expected, abs=0.005)
        assert float(row["sum"]) == pytest.approx(float(row["latency mean"]), abs=0.011)
        # capture_wait (~5 ms here) would show if it were counted
        assert float(row["sum"]) + 1 < expected + stages["capture_wait"]["mean"]


def test_nulls_render_as_a_dash():
    report = make_report()
    md = render.markdown(report)
    cpu, graph = table(md, "Backend only")[0], table(md, "Backend only")[2]
    assert cpu["compute p50 ms"] == DASH and cpu["GPU MiB"] == DASH
    assert graph["host RSS Δ MiB"] == DASH
    report["models"][0]["end_to_end"]["stages_ms"]["upload"] = None
    assert table(render.markdown(validate(report)), "Stages (mean ms, end to end)")[0]["upload"] == DASH


def test_environment_and_every_warning_are_shown():
    report = make_report()
    md = render.markdown(report)
    for warning in report["environment"]["warnings"]:
        assert f"> **Warning:** {warning}" in md
    assert "16 of 32 logical cores usable" in md and "NVIDIA H100 80GB HBM3, driver 560.35" in md
    assert "tensorrt 10.7.0" in md and "torch" not in md.split("## Settings")[0]  # a missing package is left out
    report["environment"]["gpu"] = None
    report["environment"]["jetson"] = {"model": "NVIDIA Jetson Orin Nano", "l4t": "36.4.0", "power_mode": "15W",
                                       "power_mode_id": 0, "clocks": {}}
    md = render.markdown(validate(report))
    assert "- GPU: no GPU" in md and "- Jetson: NVIDIA Jetson Orin Nano, L4T 36.4.0, power mode 15W (id 0)" in md


def test_sections_come_in_order_with_the_command_in_a_code_block():
    report = make_report()
    md = render.markdown(report, plots=["stages.png"])
    assert md.startswith(f"# amf-edge bench, {report['created']}")
    assert f"```\n{report['command']}\n```" in md
    order = ["## Environment", "## Settings", "## Backend only", "## End to end", "## Stages", "## trtexec",
             "## Notes", "## Plots"]
    positions = [md.index(h) for h in order]
    assert positions == sorted(positions)
    assert "- the +graph variant replays one CUDA graph per inference" in md


def test_tables_without_data_are_left_out():
    report = make_report()
    for m in report["models"]:
        m["end_to_end"] = m["trtexec"] = None
    md = render.markdown(validate(report))
    assert "No model ran end to end." in md
    assert "## Stages" not in md and "## trtexec" not in md and "## Plots" not in md


def test_milliseconds_format():
    assert render._ms(None) == DASH
    assert render._ms(12.3456) == "12.35"
    assert render._ms(0.04231) == "0.0423"
    assert render._ms(0.5) == "0.500"
    assert render._ms(0.0) == "0.00"
    assert render._ratio(1.23456) == "1.23×" and render._ratio(0.0812) == "0.081×" and render._ratio(None) == DASH


def test_write_markdown_links_only_the_plots_beside_it(tmp_path):
    (tmp_path / "stages.png").write_bytes(PNG_SIGNATURE)
    path = render.write_markdown(make_report(), tmp_path / "report.md")
    md = path.read_text(encoding="utf-8")
    assert "(stages.png)" in md
    assert "(latency_hist.png)" not in md and "(timeline.png)" not in md


# ---------------------------------------------------------------------------------------------------- plots


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header, after checking the signature and the IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def test_write_plots_writes_three_pngs_of_the_expected_size(tmp_path):
    image = pytest.importorskip("matplotlib.image")
    report = make_report()
    written = render.write_plots(report, tmp_path)
    assert [p.name for p in written] == ["latency_hist.png", "stages.png", "timeline.png"]
    # stages: the end-to-end models only; timeline: a panel for each of them, and the backend-only one
    rows = {"latency_hist.png": 3, "stages.png": 2, "timeline.png": 3}
    for path in written:
        width, height = (round(inches * render.DPI) for inches in render.figure_size(path.name, rows[path.name]))
        assert width == 1000
        assert png_size(path) == (width, height)
        assert image.imread(path).shape[:2] == (height, width)  # the whole file decodes
    assert png_size(tmp_path / "latency_hist.png")[1] > png_size(tmp_path / "stages.png")[1]


def test_timeline_is_skipped_without_end_to_end_samples(tmp_path):
    pytest.importorskip("matplotlib")
    report = make_report()
    (tmp_path / "timeline.png").write_bytes(PNG_SIGNATURE)  # from an earlier run: must not stay linked
    for m in report["models"]:
        if m["end_to_end"] is not None:
            del m["end_to_end"]["samples"]
    written = render.write_plots(validate(report), tmp_path)
    assert [p.name for p in written] == ["latency_hist.png", "stages.png"]
    assert not (tmp_path / "timeline.png").exists()


def test_no_plot_without_any_samples(tmp_path):
    pytest.importorskip("matplotlib")
    report = make_report()
    for m in report["models"]:
        m["end_to_end"] = None
        del m["backend_only"]["samples_ms"]
    assert render.write_plots(validate(report), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_plots_without_matplotlib_say_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(AmfEdgeError, match=re.escape('plots need matplotlib: pip install "amf-edge[bench]"')):
        render.write_plots(make_report(), tmp_path)


def test_the_report_helper_is_checked_against_the_schema():
    report = copy.deepcopy(make_report())
    del report["models"][0]["end_to_end"]["stages_ms"]["sink"]
    with pytest.raises(jsonschema.ValidationError):
        validate(report)


def test_the_documented_example_is_a_valid_report():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "bench-report.md").read_text(encoding="utf-8")
    example = json.loads(doc.split("```json\n", 1)[1].split("```", 1)[0])
    md = render.markdown(validate(example))
    assert names(table(md, "Backend only")) == ["r18.onnx", "r18_fp16.engine +graph"]
    assert table(md, "Stages (mean ms, end to end)")[0]["sum"] == "26.00"


# ---------------------------------------------------------------------------------------------------- honesty


def test_saturation_is_labelled_only_for_a_burst():
    from amf_edge.bench.report import terminal_summary

    report = make_report(30)
    md = render.markdown(report)
    assert "## End to end" in md.splitlines() and "## End to end: saturation" not in md
    assert "- end to end: paced at 30 FPS (the source's rate, from its timestamps), like a camera" in md
    assert "(saturation)" not in terminal_summary(report)
    report["settings"].update(mode="saturation", rate_fps=None, rate_from=None, policy="lossless")
    md = render.markdown(validate(report))
    assert names(table(md, "End to end: saturation")) == ["model_fp32.onnx", "model_fp16.engine"]
    assert "latency is mostly frames waiting in the queues" in md
    assert "- end to end: saturation: frames in a burst" in md
    assert "e2e p50 (saturation)" in terminal_summary(report)
    del report["settings"]["mode"]  # a report from before the key: saturation exactly when rate_fps is null
    assert render.end_to_end_mode(validate(report)) == "saturation"
    report["settings"]["rate_fps"] = 30.0
    assert render.end_to_end_mode(report) == "paced"


def test_end_to_end_over_backend_only_is_in_the_table():
    report = make_report(30)
    row = table(render.markdown(report), "End to end")[0]
    m = report["models"][0]
    assert row["p50 vs backend only"] == render._ratio(
        m["end_to_end"]["latency_ms"]["p50"] / m["backend_only"]["latency_ms"]["p50"])


def test_an_efficiency_above_1_05_is_flagged_with_its_cause():
    from amf_edge.bench.report import terminal_summary

    report = make_report(30)
    assert render.efficiency_flags(report) == [] and "Warning: model_fp32" not in render.markdown(report)
    cpu = report["models"][0]
    cpu["end_to_end"]["pipeline_efficiency"] = 1.12  # the backend ran at 40 ms alone, 30 in the pipeline
    cpu["end_to_end"]["stages_ms"]["inference"] = summarize([30.0, 30.0])
    (flag,) = render.efficiency_flags(validate(report))
    assert flag.startswith("model_fp32.onnx: pipeline efficiency 1.12 > 1.05")
    assert "did not see the same machine" in flag and "more --rounds" in flag
    assert f"> **Warning:** {flag}" in render.markdown(report)
    assert f"warning: {flag}" in terminal_summary(report)
    # the backend took as long in both: the throughputs were timed over too little
    cpu["end_to_end"]["stages_ms"]["inference"] = summarize([cpu["backend_only"]["latency_ms"]["mean"]] * 2)
    (flag,) = render.efficiency_flags(validate(report))
    assert "too little (30 frames in" in flag and "more --iters" in flag


def test_the_timeline_plots_each_frames_stages_at_its_capture_time():
    plt = pytest.importorskip("matplotlib.pyplot")
    report = make_report(40)
    models = report["models"]
    capture = np.asarray(models[0]["end_to_end"]["samples"]["capture_s"])
    models[1]["end_to_end"]["samples"]["capture_s"] = (capture + 5.0).tolist()  # its turn came 5 s later
    fig = render._timeline(plt, models)
    try:
        first, second, backend = fig.axes[:3]
        for ax, x in ((first, capture), (second, capture + 5.0)):
            lo, hi = ax.get_xlim()
            # one axis for the whole run: from the first model's first frame to the second model's last
            assert lo <= 0.0 and hi >= capture[-1] + 5.0 and hi - lo < (capture[-1] + 5.0) * 1.1
            by_x: dict[float, float] = {}
            for bar in ax.patches:  # a frame's stages stacked at its capture time, up to its latency
                centre = round(bar.get_x() + bar.get_width() / 2, 6)
                by_x[centre] = max(by_x.get(centre, 0.0), bar.get_y() + bar.get_height())
            np.testing.assert_allclose(sorted(by_x), x, atol=1e-6)
        np.testing.assert_allclose([by_x[k] for k in sorted(by_x)], models[1]["end_to_end"]["samples"]["latency_ms"],
                                   atol=1e-3)
        assert "capture time" in first.get_xlabel() and "iteration" in backend.get_xlabel()
    finally:
        plt.close(fig)
