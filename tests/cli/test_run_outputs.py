"""`amf-edge run` in a real process on full and read-only disks, and what it says it wrote (issue 14).

Torch-free: the model is amf_edge/testing.py's hand-written ONNX graph; the full disk is a real tmpfs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tmpfs import hidden_files, tmpfs
from video_files import video_frames

from amf_edge.testing import toy_model

pytestmark = pytest.mark.edge
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "amf_edge.cli.main", "run", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_a_full_disk_stops_the_run_with_exit_1_and_keeps_every_frame_it_processed(tmp_path):
    model = toy_model(tmp_path / "toy.onnx", 240, 320)
    stats = tmp_path / "stats.json"
    with tmpfs(tmp_path / "disk", "1500k") as disk:  # past `check`'s 1 MB, filled within the run
        result = run(str(model), "--source", "synthetic://?n=400&height=240&width=320",
                     "--sink", f"video://{disk}/out.mp4", "--sink", f"masks://{disk}/masks", "--sink", f"stats://{stats}")
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        error = result.stderr.strip().splitlines()
        assert len(error) == 1 and "is full" in error[0] and "free space" in error[0], error
        summary = json.loads(stats.read_text())["summary"]
        assert summary["stopped_by"] == "error" and 0 < summary["frames_out"] < 400
        out = summary["frames_out"]
        # every processed frame is in the finished video (and the masks); a sink before the one that failed may
        # hold the frame it was refused, one more
        assert out <= video_frames(disk / "out.mp4") <= out + 1
        labels = sorted((disk / "masks/labels").iterdir())
        assert out <= len(labels) <= out + 1
        assert all(cv2.imread(str(p), cv2.IMREAD_UNCHANGED) is not None for p in labels)  # whole PNGs
        assert sorted(p.name for p in (disk / "masks/color").iterdir()) == [p.name for p in labels]
        assert hidden_files(disk) == []
        frames = video_frames(disk / "out.mp4")
        assert f"wrote video: {disk}/out.mp4 ({frames} frames, 30.0 fps, H.264)" in result.stdout
        assert f"wrote masks: {disk}/masks ({len(labels)} frames" in result.stdout
        assert f"wrote stats: {stats}" in result.stdout


@pytest.mark.parametrize("sink", ["video://{d}/out.mp4", "masks://{d}/masks"])
def test_a_read_only_output_fails_before_the_model_loads(tmp_path, sink):
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as disk:
        # the model does not exist: an error about the output means it was checked first
        result = run(str(tmp_path / "missing.onnx"), "--source", "synthetic://?n=2", "--sink", sink.format(d=disk))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "(Read-only file system); choose a folder you can write to" in result.stderr
    assert "missing.onnx" not in result.stderr


def make_tum(root: Path, times: list[str], height: int, width: int) -> Path:
    """A TUM RGB-D sequence whose file names are its timestamps, written as TUM writes them."""
    for name in ("rgb", "depth"):
        (root / name).mkdir(parents=True)
    for i, t in enumerate(times):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[..., i % 3] = 200
        assert cv2.imwrite(str(root / f"rgb/{t}.png"), rgb)
        assert cv2.imwrite(str(root / f"depth/{t}.png"), np.full((height, width), 5000, np.uint16))
    for name in ("rgb", "depth"):
        (root / f"{name}.txt").write_text("# timestamp filename\n" + "".join(f"{t} {name}/{t}.png\n" for t in times))
    return root


def test_outputs_are_named_after_the_inputs_and_play_at_their_rate(tmp_path):
    times = [f"{1305031102 + i / 7:.6f}" for i in range(8)]  # 7 Hz; "1305031102.142857", ...
    times[0] = "1305031102.100000"  # trailing zeros are part of the name
    seq = make_tum(tmp_path / "seq", times, 48, 64)
    model = toy_model(tmp_path / "toy.onnx", 48, 64)
    result = run(str(model), "--source", f"tum://{seq}", "--sink", f"masks://{tmp_path}/masks",
                 "--sink", f"video://{tmp_path}/out.mp4")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "masks/labels").iterdir()) == [f"{t}.png" for t in times]
    for i, t in enumerate(times):  # each mask belongs to the input frame of its name
        labels = cv2.imread(str(tmp_path / f"masks/labels/{t}.png"), cv2.IMREAD_UNCHANGED)
        assert (labels == 2 - i % 3).all()  # BGR written, RGB read by the model: channel i % 3 wins
    assert f"wrote masks: {tmp_path}/masks (8 frames in labels/ and color/: {times[0]}.png … {times[-1]}.png" \
        in result.stdout
    fps = 7 / (float(times[-1]) - float(times[0]))  # the frames' own times
    assert f"wrote video: {tmp_path}/out.mp4 (8 frames, {fps:.1f} fps, H.264)" in result.stdout
    assert video_frames(tmp_path / "out.mp4") == 8
