"""amf-edge bench: the statistics on known samples, the interleaving, and short runs of the real command on
ONNX Runtime, PyTorch and a stand-in TensorRT (a fake GPU clock), checked against the report schema and
against themselves (stage times add up to the latency)."""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import trt_standin as ts

from amf_edge.bench import render
from amf_edge.bench.measure import interleave, pacing, shares
from amf_edge.bench.replay import source_rate
from amf_edge.bench.stats import ratio, summarize, throughput
from amf_edge.cli.main import main
from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.runtime.backends.base import SynchronousBackend
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import LATENCY_STAGES, STAGES
from amf_edge.runtime.sources.synthetic import SyntheticSource

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

jsonschema = pytest.importorskip("jsonschema")
ort = pytest.importorskip("onnxruntime")
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "bench-report.schema.json").read_text())
H, W = 48, 64


# -- statistics -----------------------------------------------------------------------------------------


def test_percentiles_interpolate_linearly_between_ranks():
    s = summarize([4.0, 1.0, 3.0, 2.0])  # order matters for jitter only
    assert s["n"] == 4 and s["min"] == 1.0 and s["max"] == 4.0 and s["mean"] == 2.5
    assert s["p50"] == 2.5 and s["p90"] == pytest.approx(3.7) and s["p99"] == pytest.approx(3.97)
    assert s["std"] == pytest.approx(math.sqrt(1.25), abs=1e-4)
    assert s["jitter"] == pytest.approx((3 + 2 + 1) / 3, abs=1e-4)  # |1−4|, |3−1|, |2−3|


def test_statistics_of_one_none_and_bad_samples():
    one = summarize([7.25])
    assert one["p50"] == one["p99"] == one["max"] == 7.25 and one["std"] == 0.0 and one["jitter"] == 0.0
    assert summarize([]) is None
    with pytest.raises(ValueError, match="1 of 3 samples are not finite"):
        summarize([1.0, float("nan"), 2.0])


def test_a_steady_drift_has_small_jitter_but_large_spread():
    drift = summarize(np.linspace(10, 20, 101))
    assert drift["jitter"] == pytest.approx(0.1, abs=1e-6) and drift["std"] > 2.5


def test_throughput_and_ratios():
    assert throughput([10.0, 10.0, 20.0]) == 75.0  # 3 frames in 40 ms, not the mean of rates
    assert throughput([]) is None
    assert ratio(5.0, 10.0) == 0.5 and ratio(None, 1.0) is None and ratio(1.0, 0.0) is None


def test_iterations_are_shared_over_rounds_and_models_take_turns():
    assert shares(10, 3) == [4, 3, 3] and shares(2, 5) == [1, 1] and sum(shares(101, 7)) == 101
    calls = []
    interleave(["a", "b"], 5, 2, lambda s, n, done: calls.append((s, n, done)), progress=lambda line: None)
    assert calls == [("a", 3, 0), ("b", 3, 0), ("a", 2, 3), ("b", 2, 3)]


# -- the command ------------------------------------------------------------------------------------------


def validate(report: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(report)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A very small ONNX model with amf-edge metadata (labels = a slice of the image): microseconds per run."""
    return ts.write_onnx(tmp_path_factory.mktemp("bench") / "tiny.onnx", height=H, width=W)


@pytest.fixture(scope="module")
def second(tmp_path_factory, tiny, tiny_checkpoint) -> Path:
    """The tiny amf-edge checkpoint (PyTorch eager, tests/conftest.py) where torch is installed; on the
    torch-free edge target a second ONNX file, so the interleaving and the report are tested there too."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return ts.write_onnx(tmp_path_factory.mktemp("bench") / "other.onnx", height=H, width=W)
    return tiny_checkpoint()


def bench(*args: str) -> int:
    return main(["bench", *args, "--warmup-s", "0.05", "--frames", "3"])


def test_cpu_backends_interleaved_with_a_valid_report(tiny, second, tmp_path, capsys):
    out = tmp_path / "report"
    assert bench(str(tiny), str(second), "--iters", "12", "--rounds", "3", "--report", str(out)) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    validate(report)
    assert [m["name"] for m in report["models"]] == ["tiny.onnx", second.name] and second.name in printed
    onnx_model, other = report["models"]
    assert onnx_model["backend"]["backend"] == "ort" and onnx_model["format"] == "onnx"
    for m in report["models"]:
        only, e2e = m["backend_only"], m["end_to_end"]
        assert only["timer"] == "wall" and only["iterations"] == len(only["samples_ms"]) == 12
        assert only["compute_ms"] is None and m["memory"]["gpu_mib"] is None
        assert only["latency_ms"]["p50"] == pytest.approx(float(np.percentile(only["samples_ms"], 50)), abs=1e-3)
        # paced at the synthetic scenes' 30 FPS with the live policy: 12 frames out (a model slower than the
        # camera drops the frames that came while it worked)
        assert e2e["policy"] == "live" and e2e["frames"] == 12 and e2e["throughput_fps"] > 0
        assert np.all(np.diff(samples := e2e["samples"]["capture_s"]) > 0) and samples[0] >= 0
        assert e2e["pipeline_efficiency"] == pytest.approx(e2e["throughput_fps"] / only["throughput_fps"], abs=1e-4)
        # every frame: its stages add up to its capture-to-output latency
        samples = e2e["samples"]
        parts = np.sum([samples[f"{s}_ms"] for s in LATENCY_STAGES], axis=0)
        np.testing.assert_allclose(parts, samples["latency_ms"], atol=0.01)
        means = sum(e2e["stages_ms"][s]["mean"] for s in LATENCY_STAGES)
        assert means == pytest.approx(e2e["latency_ms"]["mean"], abs=0.01)
        assert set(e2e["stages_ms"]) == set(STAGES)
        assert m["input"] == {"height": H, "width": W}
    assert onnx_model["ratios"]["backend_only_p50"] == 1.0
    if second.suffix == ".pt":  # the network in PyTorch is slower than the slice, and the ratios say so
        assert other["backend"]["backend"] == "torch" and other["format"] == "checkpoint"
        assert other["ratios"]["backend_only_p50"] > 1.0 and other["ratios"]["end_to_end_p50"] > 1.0
    assert report["environment"]["host"]["cores_usable"] >= 1 and report["settings"]["rounds"] == 3
    assert {k: report["settings"][k] for k in ("mode", "rate_fps", "rate_from", "policy")} == {
        "mode": "paced", "rate_fps": 30.0, "rate_from": "source", "policy": "live"}
    assert "end to end: paced at 30 FPS (the source's rate) with the live policy" in printed
    md = (out / "report.md").read_text()
    assert "tiny.onnx" in md and second.name in md
    for png in ("latency_hist.png", "stages.png", "timeline.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensorrt_engine_with_and_without_cuda_graphs_on_device_events(fake_engine, tmp_path, capsys):
    """The fake GPU's clock: the report's device times must be exactly its charges, for both variants."""
    out = tmp_path / "report"
    assert bench(str(fake_engine), "--iters", "4", "--rounds", "2", "--no-e2e", "--report", str(out), "--no-plots") == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    validate(report)
    plain, graph = report["models"]
    assert (plain["name"], graph["name"]) == ("tiny.engine", "tiny.engine +graph")
    assert plain["variant"] == {"cuda_graph": False} and graph["variant"] == {"cuda_graph": True}
    for m in (plain, graph):
        only = m["backend_only"]
        assert only["timer"] == "cuda-events"
        assert only["latency_ms"]["p50"] == 7.25 and only["compute_ms"]["max"] == 5.0
        assert only["upload_ms"]["mean"] == 2.0 and only["download_ms"]["mean"] == 0.25
        assert only["host_ms"]["n"] == 4 and m["memory"]["gpu_mib"] > 0 and m["end_to_end"] is None
        assert "--loadEngine=" in m["trtexec"]["command"] and m["trtexec"]["ran"] is False
    assert "--useCudaGraph" in graph["trtexec"]["command"] and "--useCudaGraph" not in plain["trtexec"]["command"]
    assert "trtexec equivalent of tiny.engine" in printed


@pytest.fixture
def fake_engine(monkeypatch, tiny, tmp_path) -> Path:
    """A stand-in TensorRT bundle of the tiny model on a fake GPU (1 ms per upload, 5 ms per inference,
    0.25 ms per download)."""
    from amf_edge.convert.build import build_engine
    from amf_edge.convert.build_options import BuildOptions

    cuda = ts.FakeCuda(ts.RTX_4090)
    module = ts.make_world(ts.load_surface(ts.VERSIONS[-1]), cuda=cuda, io=ts.default_io(H, W))
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr("amf_edge.convert.build.query_device", lambda: ts.RTX_4090)
    monkeypatch.setattr("amf_edge.runtime.backends.trt.open_cuda", lambda: cuda)
    monkeypatch.setattr(cuda, "close", lambda: None)  # two backends share the one fake GPU
    engine = tmp_path / "tiny.engine"
    build_engine(tiny, engine, BuildOptions(), log=lambda line: None, progress=open(os.devnull, "w"))
    return engine


def test_frames_are_dumped_for_the_native_runner(tiny, tmp_path, capsys):
    from amf_edge.bench.native import load_dumped_frames

    out = tmp_path / "frames"
    assert bench(str(tiny), "--iters", "2", "--rounds", "1", "--no-e2e", "--dump-frames", str(out)) == 0
    manifest = json.loads((out / "frames.json").read_text())
    assert (manifest["format"] == "amf-edge-frames" and manifest["count"] == 3
            and (manifest["height"], manifest["width"]) == (H, W))
    assert manifest["inputs"] == {"rgb": {"dtype": "uint8", "shape": [1, H, W, 3]},
                                  "depth": {"dtype": "float32", "shape": [1, H, W]}}
    frames = load_dumped_frames(out)
    first = next(iter(SyntheticSource(f"synthetic://?n=3&height={H}&width={W}"))).sample
    np.testing.assert_array_equal(frames[0]["rgb"][0], first.rgb)  # the model's inputs, exactly
    np.testing.assert_array_equal(frames[0]["depth"][0], first.depth_m())
    (out / "frames.json").write_text(json.dumps({**manifest, "version": 2}))
    with pytest.raises(AmfEdgeError, match="expected format 'amf-edge-frames' version 1"):
        load_dumped_frames(out)


def test_native_runs_beside_python_on_the_same_frames(fake_engine, tmp_path, monkeypatch, capsys):
    """A stand-in for the C++ runner: it checks it was given the dumped frames and reports fixed numbers;
    the report must carry them and Python over native."""
    runner = tmp_path / "amf-edge-bench-native"
    runner.write_text(f"""#!{sys.executable}
import json, pathlib, sys
args = sys.argv[1:]
frames = pathlib.Path(args[args.index("--frames") + 1])
assert json.loads((frames / "frames.json").read_text())["count"] == 3, "frames missing"
stats = {{"n": 4, "mean": 5.0, "std": 0.0, "jitter": 0.0, "min": 5.0, "p50": 5.0, "p90": 5.0, "p99": 5.0, "max": 5.0}}
report = {{"models": [{{"backend_only": {{"timer": "cuda-events", "iterations": 4, "throughput_fps": 200.0,
           "latency_ms": stats, "compute_ms": stats, "host_ms": stats, "graph": "--cuda-graph" in args}}}}]}}
pathlib.Path(args[args.index("--report") + 1]).write_text(json.dumps(report))
""")
    runner.chmod(0o755)
    monkeypatch.setenv("AMF_EDGE_NATIVE", str(runner))
    out = tmp_path / "report"
    assert bench(str(fake_engine), "--iters", "4", "--rounds", "1", "--native", "--report", str(out), "--no-plots") == 0
    report = json.loads((out / "report.json").read_text())
    validate(report)
    for m in report["models"]:
        native = m["native"]
        assert native["backend_only"]["latency_ms"]["p50"] == 5.0
        assert native["python_over_native"]["backend_only_p50"] == pytest.approx(7.25 / 5.0, abs=1e-3)
        assert native["python_over_native"]["end_to_end_throughput"] == pytest.approx(
            m["end_to_end"]["throughput_fps"] / 200.0, abs=1e-3)
    assert "--cuda-graph" in report["models"][1]["native"]["command"]
    assert "--cuda-graph" not in report["models"][0]["native"]["command"]
    assert "native tiny.engine: Python/native p50" in capsys.readouterr().out


def test_native_is_for_engines_and_needs_the_built_runner(tiny, fake_engine, monkeypatch, capsys):
    assert main(["bench", str(tiny), "--native", "--iters", "2"]) == 1
    assert "no .engine model was given" in capsys.readouterr().err
    monkeypatch.setenv("AMF_EDGE_NATIVE", "/nonexistent")
    monkeypatch.setattr("amf_edge.bench.native.BUILD_DIR", Path("/nonexistent"))
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["bench", str(fake_engine), "--native", "--iters", "2"]) == 1
    assert "make native" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--iters", "0"], "--iters must be at least 1"),
    (["--trtexec"], "no .engine model was given"),
    (["--sink", "nope://x"], "nope://x"),
    (["--source", "synthetic://?n=2&height=24&width=32"], "the frame is 24×32 but the model takes 48×64"),
])
def test_bad_settings_exit_1_with_a_message(tiny, args, message, capsys):
    assert main(["bench", str(tiny), "--warmup-s", "0", "--iters", "2", *args]) == 1
    assert message in capsys.readouterr().err


def test_models_of_different_sizes_are_not_compared(tiny, tmp_path, capsys):
    other = ts.write_onnx(tmp_path / "big.onnx", height=96, width=128)
    assert main(["bench", str(tiny), str(other), "--iters", "2"]) == 1
    err = capsys.readouterr().err
    assert "48×64 (tiny.onnx), 96×128 (big.onnx)" in err and "a run of their own" in err


def test_plots_need_matplotlib_but_the_measurements_are_kept(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "report"
    assert bench(str(tiny), "--iters", "3", "--rounds", "1", "--report", str(out)) == 1
    assert "matplotlib" in capsys.readouterr().err
    validate(json.loads((out / "report.json").read_text()))


def test_environment_errors_name_the_fix():
    with pytest.raises(AmfEdgeError, match="list each model once"):
        from amf_edge.bench.measure import load_subjects
        load_subjects([Path("a.onnx"), Path("./a.onnx")])


def test_each_models_pipeline_turn_follows_its_backend_only_turn(tiny, second, monkeypatch, capsys):
    """The two halves of pipeline efficiency are measured seconds apart, never a whole phase apart."""
    import amf_edge.bench.measure as measure

    turns = []

    def recorded(kind: str):
        real = getattr(measure, f"time_{kind}")

        def timed(subject, *args, **kwargs):
            turns.append((kind, subject.name))
            return real(subject, *args, **kwargs)
        return timed

    for kind in ("backend", "pipeline"):
        monkeypatch.setattr(measure, f"time_{kind}", recorded(kind))
    assert bench(str(tiny), str(second), "--iters", "4", "--rounds", "2") == 0
    a, b = "tiny.onnx", second.name
    assert turns == [("backend", a), ("pipeline", a), ("backend", b), ("pipeline", b)] * 2
    assert "backend only + end to end round 2/2" in capsys.readouterr().out


def test_ctrl_c_keeps_what_was_measured(tiny, tmp_path, monkeypatch, capsys):
    """Interrupted during the end-to-end turns: the report is written from the rounds that ran, exit 130."""
    import amf_edge.bench.measure as measure

    real, calls = measure.time_pipeline, []

    def interrupt_second_turn(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(measure, "time_pipeline", interrupt_second_turn)
    out = tmp_path / "report"
    assert bench(str(tiny), "--iters", "4", "--rounds", "2", "--report", str(out), "--no-plots") == 130
    report = json.loads((out / "report.json").read_text())
    validate(report)
    (m,) = report["models"]
    assert m["backend_only"]["iterations"] == 4 and m["end_to_end"]["frames"] == 2
    assert any("interrupted" in note for note in report["notes"])


# -- pacing, threads, the timeline --------------------------------------------------------------------------------


class Sleepy(SynchronousBackend):
    """A stand-in backend: `delay` seconds per inference, and the thread of every call recorded."""

    name = "sleepy"

    def __init__(self, delay: float = 0.005):
        super().__init__(ModelContract(height=H, width=W, channel_order="RGB", outputs=("labels",),
                                       labels=LabelSet.generic(5)))
        self.delay, self.threads = delay, []

    def run(self, inputs):
        self.threads.append(threading.current_thread())
        time.sleep(self.delay)
        return {"labels": np.zeros((1, H, W), np.uint8)}


@pytest.fixture
def sleepy(monkeypatch, tiny) -> list[Sleepy]:
    """`amf-edge bench tiny.onnx` opens Sleepy backends instead (the file is only named); the list gets them."""
    opened = []

    def open_sleepy(path, **kwargs):
        opened.append(Sleepy())
        return opened[-1]

    monkeypatch.setattr("amf_edge.bench.measure.open_backend", open_sleepy)
    return opened


def test_pacing_is_the_default_so_end_to_end_latency_is_the_models(tiny, sleepy, tmp_path, capsys):
    """A 5 ms model at the source's 30 FPS, as a camera delivers: no frame waits for another, the queue stage is
    near 0 and the end-to-end p50 close to the backend-only one. In saturation the same model's frames queue."""
    out = tmp_path / "paced"
    assert bench(str(tiny), "--iters", "24", "--rounds", "2", "--report", str(out), "--no-plots") == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    validate(report)
    settings, (m,) = report["settings"], report["models"]
    assert (settings["mode"], settings["rate_fps"], settings["rate_from"], settings["policy"]) == (
        "paced", 30.0, "source", "live")
    only, e2e = m["backend_only"]["latency_ms"], m["end_to_end"]
    # (bounds with room for a loaded 2-core machine: the sleep is 5 ms, a frame comes every 33 ms)
    assert 4.5 < only["p50"] < 20 and e2e["frames"] == 24 and e2e["dropped"] <= 4
    paced_queue = e2e["stages_ms"]["queue"]["p50"]
    assert paced_queue < 2.0
    assert e2e["latency_ms"]["p50"] < only["p50"] + 3.0, (e2e["latency_ms"], only)
    assert e2e["stages_ms"]["capture_wait"]["p50"] > 20  # the pipeline waited for the camera, not the reverse
    md = (out / "report.md").read_text()
    assert "## End to end\n" in md and "## End to end: saturation" not in md and "paced at 30 FPS" in md
    assert "(saturation)" not in printed

    burst = tmp_path / "burst"
    assert bench(str(tiny), "--iters", "24", "--rounds", "2", "--rate", "0", "--report", str(burst),
                 "--no-plots") == 0
    printed = capsys.readouterr().out
    report = json.loads((burst / "report.json").read_text())
    validate(report)
    assert (report["settings"]["mode"], report["settings"]["rate_fps"], report["settings"]["policy"]) == (
        "saturation", None, "lossless")
    e2e = report["models"][0]["end_to_end"]
    # frames wait behind each other: the lossless queues hold 4 frames of 5 ms each
    assert e2e["frames"] == 24 and e2e["stages_ms"]["queue"]["p50"] > max(5.0, 4 * paced_queue)
    assert "## End to end: saturation" in (burst / "report.md").read_text()
    assert "end to end: saturation" in printed and "e2e p50 (saturation)" in printed


def test_a_model_slower_than_the_camera_is_measured_while_the_camera_streams(tiny, monkeypatch, tmp_path, capsys):
    """An 80 ms model at 100 FPS: in a live run the frame it takes next is the newest, at most 10 ms old. A turn
    whose source ended after its 3 frames left the last one waiting a whole inference (160 ms end to end, 2× the
    backend: a queue no camera makes); the paced source now streams until the turn's frames are out."""
    monkeypatch.setattr("amf_edge.bench.measure.open_backend", lambda path, **kwargs: Sleepy(0.08))
    out = tmp_path / "slow"
    assert bench(str(tiny), "--iters", "6", "--rounds", "2", "--rate", "100", "--report", str(out),
                 "--no-plots") == 0
    e2e = json.loads((out / "report.json").read_text())["models"][0]["end_to_end"]
    assert e2e["frames"] == 6  # the frames out: the turn's iterations
    assert e2e["dropped"] >= 2 * 5  # the camera's frames that came while the model worked (about 7 of 8)
    assert e2e["latency_ms"]["max"] < 80 + 10 + 25, e2e["latency_ms"]  # room for a loaded machine
    assert e2e["stages_ms"]["queue"]["max"] < 10 + 15, e2e["stages_ms"]["queue"]
    index = e2e["samples"]["index"]
    assert index[0] == 0 and index[1] >= 6  # the second frame out is a fresh one, not frame 1 or 2


def test_saturation_flag_is_rate_0_and_contradicts_a_rate(tiny, sleepy, capsys):
    assert bench(str(tiny), "--iters", "2", "--rounds", "1", "--saturation") == 0
    assert "end to end: saturation" in capsys.readouterr().out
    assert bench(str(tiny), "--iters", "2", "--saturation", "--rate", "30") == 1
    assert "contradicts --rate 30" in capsys.readouterr().err


def test_the_source_rate_comes_from_the_timestamps():
    def frames(stamps):
        return [Frame(None, i, t, 0.0) for i, t in enumerate(stamps)]

    fifty = frames([i / 50 for i in range(8)])
    assert source_rate(fifty) == 50.0
    assert source_rate(frames([0.0, 0.02, 0.04, 0.10, 0.12])) == 50.0  # a dropped frame does not move it
    assert pacing(fifty, None, None) == (50.0, "source", "live")
    assert pacing(fifty, 15.0, None) == (15.0, "option", "live")
    assert pacing(fifty, 0.0, None) == (None, "saturation", "lossless")
    assert pacing(fifty, 0.0, "live") == (None, "saturation", "live")
    assert pacing(frames([0.0]), None, "lossless") == (30.0, "default", "lossless")
    assert source_rate(frames([5.0, 5.0, 5.0])) is None and source_rate(frames([0, 1e-5, 2e-5])) is None


def test_backend_only_runs_on_a_worker_thread_like_the_pipeline(tiny, sleepy, capsys):
    """PyTorch's thread pools are per calling thread: backend only on the main thread timed another machine."""
    assert bench(str(tiny), "--iters", "4", "--rounds", "2", "--no-e2e") == 0
    (backend,) = sleepy
    assert len(backend.threads) >= 1 + 2 + 4  # warm-up, an untimed inference per turn, the timed ones
    assert all(t is not threading.main_thread() for t in backend.threads)
    assert {t.name for t in backend.threads} == {"amf-edge-bench-infer"}


def test_the_timeline_is_on_the_runs_clock(tiny, sleepy, tmp_path, capsys):
    """capture_s: when each frame was captured, on one clock for the whole run; the plot's axis spans it."""
    plt = pytest.importorskip("matplotlib.pyplot")
    out = tmp_path / "report"
    start = time.perf_counter()
    assert bench(str(tiny), "--iters", "12", "--rounds", "2", "--rate", "50", "--policy", "lossless",  # every frame
                 "--report", str(out), "--no-plots") == 0
    elapsed = time.perf_counter() - start
    (m,) = json.loads((out / "report.json").read_text())["models"]
    capture = np.asarray(m["end_to_end"]["samples"]["capture_s"])
    assert capture[0] == 0.0 and np.all(np.diff(capture) > 0)
    # 2 turns of 6 frames at 50 FPS: 5 intervals each, and the second turn after the first one's end
    assert 2 * 5 / 50 - 0.005 < capture[-1] < elapsed
    assert capture[6] - capture[5] > 1 / 50  # the backend-only turn ran in between
    fig = render._timeline(plt, [m])
    try:
        ax = fig.axes[0]
        lo, hi = ax.get_xlim()
        assert lo <= capture[0] and hi >= capture[-1] and hi - lo < 1.1 * capture[-1] + 0.01
        bars = sorted({round(p.get_x() + p.get_width() / 2, 6) for p in ax.patches})
        np.testing.assert_allclose(bars, capture, atol=1e-6)  # one bar per frame, at its capture time
    finally:
        plt.close(fig)
