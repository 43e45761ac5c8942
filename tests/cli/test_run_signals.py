"""`amf-edge run` stopped by signals in a real process: SIGTERM and SIGHUP shut it down like Ctrl-C (exit 143 and
129), and two Ctrl-Cs a few ms apart stop it without an abort or a traceback, every file finished.

Torch-free: the model is a small hand-written ONNX graph with amf-edge metadata, slow enough (a few ms to tens
of ms per frame) that a signal lands while the inference thread is inside ONNX Runtime, where the old code
aborted (SIGABRT) when a second Ctrl-C broke off the shutdown."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from video_files import video_frames

from amf_edge.testing import toy_model

pytestmark = pytest.mark.edge
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
H, W = 48, 64
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return toy_model(tmp_path_factory.mktemp("signals") / "toy.onnx", H, W, conv_channels=32)


def start(model: Path, out: Path) -> subprocess.Popen:
    """An endless run into a video and statistics; returns once frames reach the video."""
    video = out / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "amf_edge.cli.main", "run", str(model), "--source",
         f"synthetic://?n=100000&height={H}&width={W}", "--sink", f"video://{video}", "--sink",
         f"stats://{out / 'stats.json'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not _growing(out):  # a few frames are in
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run did not start streaming: {process.communicate()[1]}")
        time.sleep(0.02)
    return process


def _growing(out: Path) -> bool:
    """The video, written under a hidden name until it is finished, holds a few frames."""
    for part in out.glob(".out.*.part.mp4"):
        try:
            if part.stat().st_size > 4096:
                return True
        except FileNotFoundError:
            pass  # finished and renamed meanwhile
    return False


def finish(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()


def check_outputs(out: Path, stopped_by: str = "interrupt") -> dict:
    summary = json.loads((out / "stats.json").read_text())["summary"]  # whole and valid JSON
    assert summary["stopped_by"] == stopped_by and summary["frames_out"] >= 1
    assert summary["frames_in"] == summary["frames_out"] + summary["dropped_total"]
    written = summary["sinks"][f"video://{out / 'out.mp4'}"]["written"]
    assert video_frames(out / "out.mp4") == written == summary["frames_out"]  # the video is finalized and plays
    assert not list(out.glob(".*"))  # no temporary file, no space reserve left behind
    return summary


@pytest.mark.parametrize("signum, code, name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")])
def test_sigterm_and_sighup_stop_like_ctrl_c(model, tmp_path, signum, code, name):
    process = start(model, tmp_path)
    process.send_signal(signum)
    out, err = finish(process)
    assert process.returncode == code, err
    assert f"amf-edge run: interrupted ({name})" in err and "Traceback" not in err
    assert "stopped by interrupt" in out and "frames in" in out  # the summary
    check_outputs(tmp_path)


def test_two_quick_ctrl_cs_stop_without_abort_and_keep_the_files(model, tmp_path):
    """Two SIGINTs 2–30 ms apart, 5 times: the old code aborted (returncode -6) in about half of such runs, with
    an unplayable video and no statistics, or was killed by the second SIGINT at exit (-2)."""
    rng = random.Random(14)
    for attempt in range(5):
        out = tmp_path / str(attempt)
        out.mkdir()
        process = start(model, out)
        process.send_signal(signal.SIGINT)
        time.sleep(rng.uniform(0.002, 0.03))
        process.send_signal(signal.SIGINT)
        stdout, err = finish(process)
        assert process.returncode == 130, (attempt, process.returncode, err)
        assert "Traceback" not in err and "terminate called" not in err and "amf-edge run: interrupted" in err
        assert "stopped by interrupt" in stdout
        check_outputs(out)
