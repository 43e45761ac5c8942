"""video:// and masks:// on full, read-only and failing disks; their names, rates and codecs (issue 14).

The full disk is a real tmpfs of a few hundred kB (tests/tmpfs.py); EIO, which no healthy filesystem
gives on demand, is injected into the sinks' own write calls.
"""

from __future__ import annotations

import errno
import functools
import http.server
import json
import os
import queue
import subprocess
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks import Result, SinkContext, encoders, files, sink_from_uri
from amf_edge.runtime.sinks.masks import file_name
from amf_edge.sample import RGBDSample
from amf_edge.synthetic import SYNTHETIC_LABELS

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")
from tmpfs import hidden_files, tmpfs  # noqa: E402

H, W = 48, 64
CHROMIUM = "/usr/bin/chromium"


def context(**kwargs) -> SinkContext:
    defaults = dict(labels=SYNTHETIC_LABELS, channel_order="RGB", policy="lossless",
                    backend={"backend": "fake", "device": "cpu"}, frame_size=(H, W))
    return SinkContext(**{**defaults, **kwargs})


def noisy_result(index: int, t: float | None = None, name: str | None = None, size=(H, W)) -> Result:
    """Noise compresses badly: a few frames fill a small disk."""
    rng = np.random.default_rng(index)
    rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    labels = rng.integers(0, SYNTHETIC_LABELS.num_classes, size, dtype=np.uint8)
    frame = Frame(RGBDSample(rgb, np.full(size, 1500, np.uint16), 0.001), index,
                  index / 30 if t is None else t, time.perf_counter(), name=name)
    return Result(frame, {"labels": labels}, {})


def frames_in(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def fill(sink, limit: int = 5000) -> tuple[int, AmfEdgeError]:
    """Write frames until the sink refuses; (frames accepted, the error)."""
    for i in range(limit):
        try:
            sink.write(noisy_result(i))
        except AmfEdgeError as e:
            return i, e
    raise AssertionError(f"{limit} frames fitted: the disk never filled")


# -- full disk ----------------------------------------------------------------------------------------

# H.264 through PyAV; Motion JPEG through OpenCV, which buffers 256 kB at a time and must stop 1 MB early
@pytest.mark.parametrize("name, size", [("out.mp4", "1m"), ("out.avi", "3m")])
def test_a_full_disk_finishes_the_video_with_every_frame_written(tmp_path, name, size):
    with tmpfs(tmp_path / "disk", size) as disk:
        sink = sink_from_uri(f"video://{disk}/{name}?view=side")
        sink.open(context())
        accepted, error = fill(sink)
        sink.close()
        assert "full" in str(error) and "free space" in str(error) and str(error).count("\n") == 0, error
        assert accepted > 5 and sink.written == accepted  # the frame the disk refused is not counted
        assert frames_in(disk / name) == accepted  # finished under its final name: it plays, every frame in it
        assert hidden_files(disk) == []  # no temporary file, no reserve left behind
        assert sink.describe().startswith(f"wrote video: {disk / name} ({accepted} frames")


def test_a_video_that_cannot_reserve_space_to_finish_fails_at_open(tmp_path):
    with tmpfs(tmp_path / "disk", "16k") as disk:
        sink = sink_from_uri(f"video://{disk}/out.mp4")
        with pytest.raises(AmfEdgeError, match=r"cannot reserve \d+ kB in .* to finish the video .*disk is full"):
            sink.open(context(frame_size=(240, 320)))
        sink.close()
        assert list(disk.iterdir()) == []


def test_a_full_disk_leaves_only_whole_mask_pairs(tmp_path):
    with tmpfs(tmp_path / "disk", "300k") as disk:
        sink = sink_from_uri(f"masks://{disk}/masks")
        sink.open(context())
        accepted, error = fill(sink)
        sink.close()
        assert "could not write" in str(error) and "No space left" in str(error) and "disk is full" in str(error)
        assert f"the {accepted} frames before it are whole" in str(error)
        labels = sorted(p.name for p in (disk / "masks/labels").iterdir())
        colours = sorted(p.name for p in (disk / "masks/color").iterdir())
        assert labels == colours == [f"{i:06d}.png" for i in range(accepted)]  # pairs: both or neither
        for i, name in enumerate(labels):  # every PNG whole: decodes to what was written
            ids = cv2.imread(str(disk / "masks/labels" / name), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(ids, noisy_result(i).labels)
            assert cv2.imread(str(disk / "masks/color" / name)) is not None
        assert hidden_files(disk) == []


def test_a_disk_filled_by_another_sink_still_lets_the_video_finish(tmp_path):
    """The masks fill the disk; the video's reserved space still takes its index at close."""
    with tmpfs(tmp_path / "disk", "400k") as disk:
        video, masks = sink_from_uri(f"video://{disk}/out.mp4"), sink_from_uri(f"masks://{disk}/masks")
        for sink in (video, masks):
            sink.open(context())
        with pytest.raises(AmfEdgeError, match="masks://.*No space left"):
            for i in range(5000):
                result = noisy_result(i)
                video.write(result)
                masks.write(result)
        masks.close()
        video.close()
        assert frames_in(disk / "out.mp4") == video.written == masks.written + 1  # the frame masks refused
        assert hidden_files(disk) == []


# -- read-only and failing disks ------------------------------------------------------------------------

@pytest.mark.parametrize("uri", ["video://{d}/out.mp4", "masks://{d}/masks", "video://{d}/sub/out.avi"])
def test_a_read_only_filesystem_is_refused_by_check_and_open(tmp_path, uri):
    with tmpfs(tmp_path / "ro", "64k", read_only=True) as disk:
        sink = sink_from_uri(uri.format(d=disk))
        with pytest.raises(AmfEdgeError, match=r"cannot create files in .* \(Read-only file system\); choose a folder"):
            sink.check()  # before the model loads; creates nothing
        with pytest.raises(AmfEdgeError, match=r"\(Read-only file system\); the filesystem is read-only: write to a"):
            sink.open(context())  # where nobody called check()


def test_check_refuses_an_almost_full_disk_before_the_model_loads(tmp_path):
    with tmpfs(tmp_path / "disk", "300k") as disk:
        for uri in (f"video://{disk}/out.mp4", f"masks://{disk}/masks"):
            with pytest.raises(AmfEdgeError, match=r"is full \(\d+ bytes free\); free some space or write elsewhere"):
                sink_from_uri(uri).check()
        assert list(disk.iterdir()) == []  # nothing created


class _FailingOs(types.SimpleNamespace):
    """os, except that write fails with EIO once `after` writes went through."""

    def __init__(self, after: int):
        super().__init__(after=after)

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        self.after -= 1
        if self.after < 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return os.write(fd, data)


def test_an_io_error_in_the_video_removes_the_file_it_leaves_unfinishable(tmp_path, monkeypatch):
    sink = sink_from_uri(f"video://{tmp_path}/out.mp4")
    sink.open(context())
    for i in range(3):
        sink.write(noisy_result(i))
    monkeypatch.setattr(encoders, "os", _FailingOs(after=0))
    with pytest.raises(AmfEdgeError) as caught:
        for i in range(3, 100):
            sink.write(noisy_result(i))
    sink.close()
    message = str(caught.value)
    assert "Input/output error" in message and "could not be finished" in message and "check the disk" in message
    assert not (tmp_path / "out.mp4").exists() and hidden_files(tmp_path) == []  # no unplayable file, no .part
    assert "not written" in sink.describe()


def test_an_io_error_in_the_masks_keeps_the_frames_before(tmp_path, monkeypatch):
    sink = sink_from_uri(f"masks://{tmp_path}/masks")
    sink.open(context())
    sink.write(noisy_result(0))
    real = files.write_all

    def failing(fd, data):  # the colour PNG of frame 1 fails: its label PNG must go too
        if "/color/" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd, data)

    monkeypatch.setattr(files, "write_all", failing)
    with pytest.raises(AmfEdgeError, match=r"could not write .*color/000001.png \(Input/output error\); the 1 frames"):
        sink.write(noisy_result(1))
    assert sorted(p.name for p in (tmp_path / "masks/labels").iterdir()) == ["000000.png"]
    assert hidden_files(tmp_path) == [] and sink.written == 1


# -- names, rates, codecs --------------------------------------------------------------------------------

def test_masks_are_named_after_the_source_and_never_overwrite(tmp_path):
    sink = sink_from_uri(f"masks://{tmp_path}/masks?color=0")
    sink.open(context())
    names = ["1305031102.175304", "1305031102.211214", "../../etc/passwd", "a b/c", None, "1305031102.175304"]
    for i, name in enumerate(names):
        sink.write(noisy_result(i, name=name))
    written = sorted(p.name for p in (tmp_path / "masks/labels").iterdir())
    assert written == sorted(["1305031102.175304.png", "1305031102.211214.png", "_.._etc_passwd.png", "a_b_c.png",
                              "000004.png", "1305031102.175304-000005.png"])  # a repeated name: + frame number
    assert sink.describe() == (f"wrote masks: {tmp_path}/masks (6 frames in labels/: 1305031102.175304.png … "
                               "1305031102.175304-000005.png; classes.json)")
    assert file_name("...", 7) == "000007" and file_name("", 7) == "000007"


def test_video_plays_at_the_rate_of_its_frames_times(tmp_path):
    """7 FPS frames (the demo's rate) are a 7 fps video, not 30; ?fps= still sets the rate."""
    measured = sink_from_uri(f"video://{tmp_path}/seven.mp4")
    fixed = sink_from_uri(f"video://{tmp_path}/fixed.mp4?fps=12")
    for sink in (measured, fixed):
        sink.open(context())
        for i in range(15):
            sink.write(noisy_result(i, t=1000.0 + i / 7))
        sink.close()
    for path, fps in ((tmp_path / "seven.mp4", 7), (tmp_path / "fixed.mp4", 12)):
        capture = cv2.VideoCapture(str(path))
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, rel=0.02), path
        assert frames_in(path) == 15
    assert measured.describe() == f"wrote video: {tmp_path / 'seven.mp4'} (15 frames, 7.0 fps, H.264)"
    assert measured.stats()["codec"] == "H.264"


def test_without_pyav_opencv_writes_vp9_and_says_so_once(tmp_path, monkeypatch, capsys):
    from amf_edge.runtime.sinks import video

    def no_av(name, why=""):
        if name == "av":
            raise AmfEdgeError("this needs the Python module 'av': pip install \"amf-edge[runtime]\"")
        return __import__(name)

    monkeypatch.setattr(video, "require_module", no_av)
    sink = sink_from_uri(f"video://{tmp_path}/out.mp4")
    sink.open(context())
    for i in range(12):
        sink.write(noisy_result(i, t=i / 7))
    sink.close()
    err = capsys.readouterr().err
    assert err.count("note:") == 1 and "writing VP9 with OpenCV instead of H.264: H.264 needs PyAV" in err
    assert 'pip install "amf-edge[runtime]"' in err
    assert frames_in(tmp_path / "out.mp4") == 12
    assert cv2.VideoCapture(str(tmp_path / "out.mp4")).get(cv2.CAP_PROP_FPS) == pytest.approx(7, rel=0.02)
    assert sink.describe().endswith("(12 frames, 7.0 fps, VP9)")


def test_an_odd_size_is_padded_for_h264(tmp_path):
    sink = sink_from_uri(f"video://{tmp_path}/odd.mp4")
    sink.open(context(frame_size=None))
    for i in range(3):
        sink.write(noisy_result(i, size=(45, 61)))
    sink.close()
    capture = cv2.VideoCapture(str(tmp_path / "odd.mp4"))
    ok, frame = capture.read()
    assert ok and frame.shape == (46, 62, 3) and frames_in(tmp_path / "odd.mp4") == 3


# -- browsers --------------------------------------------------------------------------------------------

PAGE = """<!doctype html><video id="v" muted playsinline></video><script>
const v = document.getElementById('v');
const report = r => fetch('/result', {method: 'POST', body: JSON.stringify(r)});
v.onerror = () => report({error: v.error && v.error.message});
v.onended = () => report({width: v.videoWidth, height: v.videoHeight, duration: v.duration,
                          frames: v.getVideoPlaybackQuality().totalVideoFrames});
v.src = location.hash.slice(1); v.playbackRate = 4;
v.play().catch(e => report({error: String(e)}));
</script>"""


def play_in_chromium(folder: Path, name: str, profile: Path) -> dict:
    """Play `folder/name` to its end in headless Chromium; what the page saw (its size, duration, frames)."""
    (folder / "play.html").write_text(PAGE)
    results: queue.Queue = queue.Queue()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_POST(self):
            results.put(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}",
         f"http://127.0.0.1:{server.server_port}/play.html#{name}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return json.loads(results.get(timeout=90))
    finally:
        browser.kill()
        browser.wait()
        server.shutdown()


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"needs headless Chromium at {CHROMIUM} (scripts/install-system-deps.sh installs it)")
def test_the_video_plays_in_headless_chromium_with_every_frame(tmp_path):
    site = tmp_path / "site"
    sink = sink_from_uri(f"video://{site}/out.mp4")
    sink.open(context())
    for i in range(14):
        sink.write(noisy_result(i, t=i / 7))
    sink.close()
    seen = play_in_chromium(site, "out.mp4", tmp_path / "profile")
    assert "error" not in seen, seen
    assert (seen["width"], seen["height"]) == (W, H) and seen["frames"] == 14
    assert seen["duration"] == pytest.approx(2.0, abs=0.05)  # 14 frames at 7 fps
