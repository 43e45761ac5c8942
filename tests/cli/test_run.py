"""`amf-edge run` end to end on synthetic frames (ONNX Runtime and PyTorch), its errors and Ctrl-C,
and the demo's streaming step."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from video_files import video_frames

from amf_edge.cli.main import main
from amf_edge.files import file_sha256

ort = pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
H, W = 48, 64
SOURCE = f"synthetic://?n=6&height={H}&width={W}"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint (tests/conftest.py) and its ONNX export at 48×64 (exported once per module: seconds)."""
    from amf_edge import load_checkpoint
    from amf_edge.convert.export import export_onnx

    pt = tiny_checkpoint()
    onnx_path = export_onnx(load_checkpoint(pt), file_sha256(pt), tmp_path_factory.mktemp("run") / "tiny.onnx",
                            height=H, width=W)
    return pt, onnx_path



def test_run_streams_into_every_file_sink(models, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(models[1]), "--source", SOURCE, "--sink", f"video://{out}/overlay.mp4?view=side",
                 "--sink", f"stats://{out}/stats.json", "--sink", f"masks://{out}/masks"])
    assert code == 0
    printed = capsys.readouterr().out
    assert ("6 frames in, 6 out, 0 dropped" in printed
            and "lossless, ort CPUExecutionProvider, stopped by end" in printed)
    assert "latency ms (capture → output): p50" in printed
    assert video_frames(out / "overlay.mp4") == 6
    assert cv2.VideoCapture(str(out / "overlay.mp4")).read()[1].shape == (H, 2 * W, 3)
    assert len(list((out / "masks/labels").glob("*.png"))) == 6
    stats = json.loads((out / "stats.json").read_text())
    summary = stats["summary"]
    assert summary["frames_in"] == summary["frames_out"] == len(stats["frames"]) == 6
    assert summary["backend"]["provider"] == "CPUExecutionProvider" and summary["source"]["uri"] == SOURCE
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"} and summary["fps"] > 0
    assert [f["index"] for f in stats["frames"]] == list(range(6))
    assert all(f["latency_ms"] >= f["inference_ms"] > 0 for f in stats["frames"])


def test_run_live_with_max_frames_and_the_torch_backend(models, tmp_path, capsys):
    stats = tmp_path / "live.json"
    assert main(["run", str(models[1]), "--source", SOURCE, "--policy", "live", "--max-frames", "4",
                 "--threads", "1", "--sink", f"stats://{stats}"]) == 0
    summary = json.loads(stats.read_text())["summary"]
    assert summary["policy"] == "live" and summary["stopped_by"] == "max-frames" and summary["frames_in"] == 4
    assert summary["frames_out"] + summary["dropped_total"] == 4 and summary["backend"]["threads"] == 1
    assert main(["run", str(models[0]), "--source", SOURCE, "--backend", "torch", "--device", "cpu",
                 "--max-frames", "2"]) == 0
    printed = capsys.readouterr().out
    assert "no --sink given" in printed and "2 frames in, 2 out" in printed and "torch cpu" in printed


@pytest.mark.parametrize("args, message", [
    (["missing.onnx", "--source", SOURCE], "model missing.onnx does not exist"),
    (["{onnx}", "--source", "webcam://0"], "unknown source 'webcam://0'"),
    (["{onnx}", "--source", SOURCE, "--sink", "ftp://x"], "unknown sink 'ftp://x'"),
    (["{onnx}", "--source", SOURCE, "--sink", "video://out.mp4?fps=-1"],
     "option 'fps' must be frames per second > 0, e.g. 30, got '-1'"),
    (["{onnx}", "--source", f"synthetic://?n=2&height=64&width={W}&resize=0"],
     "the frame is 64×64 but the model takes 48×64"),
    (["{onnx}", "--source", SOURCE, "--backend", "trt"], "--backend trt runs a TensorRT engine bundle"),
    (["{pt}", "--source", SOURCE, "--backend", "ort"], "--backend ort runs an ONNX model"),
    (["{onnx}", "--source", SOURCE, "--max-frames", "0"], "--max-frames must be at least 1"),
    (["{onnx}", "--source", SOURCE, "--queue", "0"], "--queue must be at least 1"),
    (["{onnx}", "--source", SOURCE, "--device", "gpu"], "unknown device 'gpu'"),
])
def test_bad_input_exits_1_with_the_reason(models, args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(onnx=models[1], pt=models[0]) for a in args]
    assert main(["run", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("amf-edge run: error: ") and message in err, err


def test_a_window_without_a_display_exits_1(models, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["run", str(models[1]), "--source", SOURCE, "--sink", "window"]) == 1
    err = capsys.readouterr().err
    assert "needs a display" in err and "http://127.0.0.1:8080" in err


def test_bad_input_has_no_traceback_in_a_real_process(models):
    command = [sys.executable, "-m", "amf_edge.cli.main", "run", str(models[1]), "--source",
               f"synthetic://?n=2&height=40&width={W}&resize=0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the frame is 40×64 but the model takes 48×64" in result.stderr


def test_frames_of_another_size_are_resized_to_the_model_and_said_once(models, tmp_path):
    """By default a source's frames are resized to a static model's input (the preprocessing contract's resize),
    and the sinks get the resized frame, so the overlay matches the labels."""
    command = [sys.executable, "-m", "amf_edge.cli.main", "run", str(models[1]), "--source",
               f"synthetic://?n=3&height=40&width={W + 16}", "--sink", f"video://{tmp_path / 'v.avi'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"the frames are 40×{W + 16} and the model takes {H}×{W}") == 1
    assert "3 frames in, 3 out" in result.stdout and video_frames(tmp_path / "v.avi") == 3


def test_ctrl_c_finalizes_outputs_and_exits_130(models, tmp_path):
    """A real SIGINT to a running `amf-edge run`, watched through its http preview."""
    video, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "amf_edge.cli.main", "run", str(models[1]), "--source",
         f"synthetic://?n=100000&height={H}&width={W}", "--sink", "http://127.0.0.1:0",
         "--sink", f"video://{video}", "--sink", f"stats://{stats}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()  # "preview at http://127.0.0.1:PORT/ (Ctrl-C to stop)"
        assert line.startswith("preview at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[2]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url + "stats.json", timeout=10) as response:
                if json.loads(response.read())["frames_out"] >= 3:
                    break
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "stopped by interrupt" in out and "interrupted" in err and "Traceback" not in err
    summary = json.loads(stats.read_text())["summary"]
    assert summary["stopped_by"] == "interrupt" and summary["frames_out"] >= 3
    assert summary["frames_in"] == summary["frames_out"] + summary["dropped_total"]
    assert video_frames(video) == summary["frames_out"]


def test_demo_streams_through_the_exported_model(models, tmp_path, capsys):
    out = tmp_path / "demo out"  # a space: the demo's sink URIs must keep the path whole
    out.mkdir()
    shutil.copy(models[1], out / "model.onnx")  # exported from this checkpoint at this size: reused, not re-exported
    code = main(["demo", "--checkpoint", str(models[0]), "--frames", "1", "--height", str(H), "--width", str(W),
                 "--out", str(out), "--stream-frames", "5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "using the ONNX model exported earlier" in printed and "5 frames in" in printed
    assert "pixel accuracy" in printed and "on the streamed frames" in printed
    # streamed at a camera's pace, live: a frame the model cannot keep up with is dropped, not queued
    summary = json.loads((out / "stats.json").read_text())["summary"]
    assert "a 15 FPS camera" in printed and summary["policy"] == "live" and summary["wall_s"] >= 4 / 15
    assert 1 <= summary["frames_out"] == video_frames(out / "overlay.mp4") <= 5
    assert (out / "frames/frame_000.png").is_file()


def test_help_lists_the_schemes_and_policies(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "synthetic://" in text and "video://out.mp4" in text and "http://127.0.0.1:8080" in text
    assert "live" in text and "lossless" in text and "examples:" in text and "headless by default" in text
