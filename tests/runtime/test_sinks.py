"""Outputs by URI: video files, label PNGs, the statistics file and the http preview (MJPEG read back
with urllib and shown in headless Chromium); the window is tests/runtime/test_window.py. numpy + OpenCV only."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import COLUMNS
from amf_edge.runtime.sinks import Result, RunReport, SinkContext, sink_from_uri
from amf_edge.runtime.sinks.views import legend_panel, render
from amf_edge.sample import RGBDSample
from amf_edge.synthetic import SYNTHETIC_LABELS
from amf_edge.visualize import overlay

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")
H, W = 48, 64
CHROMIUM = "/usr/bin/chromium"
LIVE = {"policy": "live", "fps": 12.5, "latency_ms": 21.0, "latency_max_ms": 34.0,
        "frames_in": 9, "frames_out": 7, "dropped": 2}


def context(**kwargs) -> SinkContext:
    defaults = dict(labels=SYNTHETIC_LABELS, channel_order="RGB", policy="lossless",
                    backend={"backend": "fake", "device": "cpu"}, frame_size=(H, W), live_stats=lambda: dict(LIVE))
    return SinkContext(**{**defaults, **kwargs})


def make_result(index: int, *, label: int | None = None, size=(H, W)) -> Result:
    h, w = size
    yy, xx = np.mgrid[:h, :w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 128)], -1).astype(np.uint8)
    labels = (np.full((h, w), label, np.uint8) if label is not None
              else ((xx // 8 + yy // 8 + index) % SYNTHETIC_LABELS.num_classes).astype(np.uint8))
    sample = RGBDSample(rgb, np.full((h, w), 1500, np.uint16), 0.001)
    return Result(Frame(sample, index, index / 30, time.perf_counter()), {"labels": labels},
                  {"capture_wait": 1.0, "preprocess": 0.1, "inference": 5.0})


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


# -- URIs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri, message", [
    ("ftp://x", "unknown sink 'ftp://x': expected one of window, video://out.mp4"),
    ("out.mp4", "write video://out.mp4"),
    ("https://0.0.0.0:8443", "plain http"),
    ("video://out.mp4?fps=0", "option 'fps' must be frames per second > 0, e.g. 30, got '0'"),
    ("video://out.mp4?speed=2", "unknown option 'speed'; valid options: fps, view, fourcc"),
    ("video://out.mp4?view=xray", "option 'view' must be one of overlay, mask, side, input, got 'xray'"),
    ("video://out.mp4?fps=10&fps=20", "given twice"),
    ("video://out.webm", "cannot tell the video format"),
    ("video://", "names no file; write video://PATH, e.g. 'video://out.mp4"),
    ("stats://out.csv", "name the file .json"),
    ("masks://out?color=maybe", "option 'color' must be one of 1/0, true/false, yes/no, on/off"),
    ("http://127.0.0.1:99999", "port must be a number"),
    ("http://127.0.0.1:8080/live", "only an address and a port"),
    ("http://127.0.0.1:8080?quality=101", "quality from 1 to 100"),
    ("window://?legend=2", "option 'legend' must be one of 1/0, true/false, yes/no, on/off"),
])
def test_bad_sink_uris_say_what_is_expected(uri, message):
    with pytest.raises(AmfEdgeError, match=message):
        sink_from_uri(uri)


def test_paths_from_uris(tmp_path):
    assert str(sink_from_uri("video://runs/a/out.mp4").path) == "runs/a/out.mp4"
    assert sink_from_uri(f"video://{tmp_path}/out.avi?fps=10").path == tmp_path / "out.avi"
    assert sink_from_uri("window").view == "overlay" and sink_from_uri("window://?view=side").view == "side"


# -- views --------------------------------------------------------------------------------------------

def test_views_are_bgr_drawn_once_and_match_the_reference_overlay():
    ctx, result = context(), make_result(3)
    view = render(result, "overlay", ctx)
    expected = overlay(result.frame.sample.rgb, result.labels, SYNTHETIC_LABELS)[..., ::-1]
    assert view.shape == (H, W, 3) and np.abs(view.astype(int) - expected).max() <= 1
    assert render(result, "overlay", ctx) is view  # cached for the next sink
    np.testing.assert_array_equal(render(result, "mask", ctx), SYNTHETIC_LABELS.colorize(result.labels)[..., ::-1])
    assert render(result, "side", ctx).shape == (H, 2 * W, 3)
    np.testing.assert_array_equal(render(result, "input", ctx), result.frame.sample.rgb[..., ::-1])
    # an overlay drawn in the graph is used as it is (converted from the model's channel order)
    graph = make_result(4)
    graph.outputs["overlay"] = np.full((H, W, 3), (10, 20, 30), np.uint8)
    assert tuple(render(graph, "overlay", ctx)[0, 0]) == (30, 20, 10)
    graph.views.clear()
    assert tuple(render(graph, "overlay", context(channel_order="BGR"))[0, 0]) == (10, 20, 30)


def test_legend_lists_every_class_in_its_colour():
    panel = legend_panel(SYNTHETIC_LABELS, 300)
    assert panel.shape[0] == 300 and panel.shape[1] > 60
    colours = {tuple(int(v) for v in c) for c in panel.reshape(-1, 3)}
    assert all(tuple(int(v) for v in rgb[::-1]) in colours for rgb in SYNTHETIC_LABELS.palette)
    short = legend_panel(SYNTHETIC_LABELS, 60)  # too short for one column: it takes several
    assert short.shape[0] == 60 and short.shape[1] > panel.shape[1]


# -- video --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, view, width",
                         [("out.mp4", "overlay", W), ("out.avi", "side", 2 * W), ("clip.mkv", "mask", W)])
def test_video_has_every_frame(tmp_path, name, view, width):
    path = tmp_path / "sub" / name
    sink = sink_from_uri(f"video://{path}?view={view}&fps=15")
    sink.open(context())
    results = [make_result(i, label=i % SYNTHETIC_LABELS.num_classes) for i in range(7)]
    for r in results:
        sink.write(r)
    sink.close()
    sink.close()  # twice is fine
    frames = read_video(path)
    assert len(frames) == 7 and frames[0].shape == (H, width, 3)
    assert cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) == pytest.approx(15, abs=0.1)
    if view == "mask":  # lossy codecs: the colour of a uniform frame survives within a few levels
        for frame, r in zip(frames, results):
            assert np.abs(frame[H // 2, W // 2].astype(int) - SYNTHETIC_LABELS.palette[r.labels[0, 0]][::-1]).max() < 25


def test_video_writer_failures_are_clear(tmp_path):
    (tmp_path / "file").write_text("x")
    blocked = sink_from_uri(f"video://{tmp_path}/file/out.mp4")
    with pytest.raises(AmfEdgeError, match="cannot create the folder"):
        blocked.open(context())
    blocked.close()
    bad_codec = sink_from_uri(f"video://{tmp_path}/out.mp4?fourcc=XXXX")
    with pytest.raises(AmfEdgeError, match="could not open a video writer .*XXXX, 64×48 at 30 fps"):
        bad_codec.open(context())
    # dynamic-size models: the writer opens at the first frame, and the size may not change afterwards
    dynamic = sink_from_uri(f"video://{tmp_path}/dyn.mp4")
    dynamic.open(context(frame_size=None))
    dynamic.write(make_result(0))
    with pytest.raises(AmfEdgeError, match="changed size from 48×64 to 32×40"):
        dynamic.write(make_result(1, size=(32, 40)))
    dynamic.close()
    assert len(read_video(tmp_path / "dyn.mp4")) == 1


# -- masks --------------------------------------------------------------------------------------------

def test_masks_are_written_by_frame_number(tmp_path):
    sink = sink_from_uri(f"masks://{tmp_path}/masks")
    sink.open(context())
    results = [make_result(i) for i in (5, 6, 9)]
    for r in results:
        sink.write(r)
    sink.close()
    assert sorted(p.name for p in (tmp_path / "masks/labels").iterdir()) == ["000005.png", "000006.png", "000009.png"]
    for r in results:
        ids = cv2.imread(str(tmp_path / f"masks/labels/{r.frame.index:06d}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(ids, r.labels)
        colour = cv2.imread(str(tmp_path / f"masks/color/{r.frame.index:06d}.png"))[..., ::-1]
        np.testing.assert_array_equal(colour, SYNTHETIC_LABELS.colorize(r.labels))
    assert json.loads((tmp_path / "masks/classes.json").read_text()) == SYNTHETIC_LABELS.to_dict()
    plain = sink_from_uri(f"masks://{tmp_path}/plain?color=0")
    plain.open(context())
    plain.write(results[0])
    assert not (tmp_path / "plain/color").exists() and (tmp_path / "plain/labels/000005.png").is_file()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(AmfEdgeError, match="is a file"):
        sink_from_uri(f"masks://{tmp_path}/a-file").open(context())


# -- stats --------------------------------------------------------------------------------------------

def report(n: int) -> RunReport:
    frames = {c: [float(i) for i in range(n)] for c in COLUMNS}
    frames["index"] = list(range(n))
    return RunReport({"frames_in": n, "frames_out": n, "stopped_by": "end"}, frames)


def test_stats_file_schema(tmp_path):
    path = tmp_path / "runs/stats.json"
    sink = sink_from_uri(f"stats://{path}")
    sink.open(context())
    rows = report(3).frames
    for i in range(3):
        sink.write(make_result(i))
        sink.log_frame({c: rows[c][i] for c in COLUMNS})  # the pipeline hands each finished row on
    assert not path.exists()  # renamed into place at close, when the summary is known
    sink.close(report(3))
    document = json.loads(path.read_text())
    assert document["format"] == "amf-edge-run-stats" and document["version"] == 1
    assert document["summary"] == {"frames_in": 3, "frames_out": 3, "stopped_by": "end"}
    assert [list(row) for row in document["frames"]] == [list(COLUMNS)] * 3
    assert [row["index"] for row in document["frames"]] == [0, 1, 2]
    assert set(COLUMNS) >= {"index", "timestamp_s", "received_s", "capture_wait_ms", "queue_ms", "preprocess_ms",
                            "inference_ms", "sink_ms", "latency_ms"}
    assert [p.name for p in path.parent.iterdir()] == ["stats.json"]  # no temporary file left
    empty = tmp_path / "empty.json"
    sink = sink_from_uri(f"stats://{empty}")
    sink.open(context())
    sink.close(report(0))
    assert json.loads(empty.read_text())["frames"] == []


def test_stats_file_is_replaced_atomically(tmp_path, monkeypatch):
    path = tmp_path / "stats.json"
    path.write_text('{"old": true}')
    sink = sink_from_uri(f"stats://{path}")
    sink.open(context())

    def disk_full(*args, **kwargs):  # the rename fails: a direct write would already have replaced the file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(AmfEdgeError, match="No space left on device"):
        sink.close(report(2))
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {"old": True} and [p.name for p in tmp_path.iterdir()] == ["stats.json"]
    never = sink_from_uri(f"stats://{tmp_path}/never.json")
    never.close(report(1))  # a sink that was never opened writes nothing
    assert not (tmp_path / "never.json").exists()


# -- http ---------------------------------------------------------------------------------------------

@pytest.fixture
def preview():
    """An http sink on a free port, fed a new frame every 20 ms (all pixels class 3) until the test ends."""
    sink = sink_from_uri("http://127.0.0.1:0?quality=95")
    sink.open(context(policy="live"))
    stop = threading.Event()

    def feed():
        i = 0
        while not stop.is_set():
            sink.write(make_result(i, label=3))
            i += 1
            time.sleep(0.02)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    deadline = time.monotonic() + 10  # the tests read what was written: let the first frame land first
    while sink.written == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sink.written > 0, "the feeder wrote nothing in 10 s"
    yield sink
    stop.set()
    feeder.join()
    sink.close()


def get(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def read_mjpeg_part(stream) -> bytes:
    """One part of a multipart/x-mixed-replace stream: boundary, headers, Content-Length bytes of JPEG."""
    line = stream.readline()
    while line.strip() == b"":
        line = stream.readline()
    assert line.strip() == b"--amfedgeframe", line
    headers = {}
    while (line := stream.readline().strip()):
        key, _, value = line.decode().partition(":")
        headers[key.lower()] = value.strip()
    assert headers["content-type"] == "image/jpeg"
    return stream.read(int(headers["content-length"]))


def expected_colour(label: int = 3) -> np.ndarray:
    """The overlay of class `label` over the middle pixel of make_result's picture (BGR)."""
    result = make_result(0, label=label)
    return render(result, "overlay", context())[H // 2, W // 2].astype(int)


def test_http_preview_binds_to_localhost_and_serves_page_stats_and_frames(preview):
    assert preview.server.server_address[0] == "127.0.0.1" and preview.url.startswith("http://127.0.0.1:")
    status, kind, body = get(preview.url)
    page = body.decode()
    assert status == 200 and kind.startswith("text/html")
    assert 'src="/stream.mjpg"' in page and all(name in page for name in SYNTHETIC_LABELS.names)
    assert "rgb(31,119,180)" in page  # the legend's colours are the palette's
    status, kind, body = get(preview.url + "stats.json")
    stats = json.loads(body)
    assert kind == "application/json" and stats["fps"] == 12.5 and stats["backend"]["backend"] == "fake"
    assert stats["http"]["written"] > 0
    status, kind, body = get(preview.url + "frame.jpg")
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert kind == "image/jpeg" and image.shape == (H, W, 3)
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(preview.url + "nothing")
    assert missing.value.code == 404


def test_http_mjpeg_stream_decodes_to_the_overlay(preview):
    with urllib.request.urlopen(preview.url + "stream.mjpg", timeout=10) as stream:
        assert stream.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=amfedgeframe"
        images = [cv2.imdecode(np.frombuffer(read_mjpeg_part(stream), np.uint8), cv2.IMREAD_COLOR) for _ in range(3)]
    for image in images:
        assert image.shape == (H, W, 3)
        assert np.abs(image[H // 2, W // 2].astype(int) - expected_colour()).max() < 12
    deadline = time.monotonic() + 5  # the server counts a part after sending it: allow it to catch up
    while preview.stats()["served"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert preview.stats()["served"] >= 3 and preview.stats()["encoded"] >= 3


def test_a_client_that_does_not_read_never_stalls_writes(preview):
    with socket.create_connection(("127.0.0.1", preview.port)) as client:
        client.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # ...and never reads
        deadline = time.monotonic() + 10
        while preview.stats()["viewers"] == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert preview.stats()["viewers"] == 1
        big = make_result(0, label=1, size=(480, 640))
        writer = threading.Thread(target=lambda: [preview.write(big) for _ in range(200)], daemon=True)
        writer.start()
        writer.join(timeout=30)  # a write that waited on the viewer would never return: no speed is asserted
        assert not writer.is_alive()
    # the writes outran the encoder rather than waiting for it: frames the slow viewer never got, counted
    assert preview.stats()["skipped"] > 0


def test_http_port_in_use_and_other_hosts(preview):
    taken = sink_from_uri(f"http://127.0.0.1:{preview.port}")
    with pytest.raises(AmfEdgeError, match="port is in use: pick another one, or port 0"):
        taken.open(context())
    taken.close()
    everywhere = sink_from_uri("http://0.0.0.0:0")
    assert everywhere.host == "0.0.0.0" and sink_from_uri("http://:8080").host == "127.0.0.1"
    with pytest.raises(AmfEdgeError, match="not one of this machine's"):
        sink_from_uri("http://192.0.2.1:0").open(context())


def test_http_close_stops_serving():
    sink = sink_from_uri("http://127.0.0.1:0")
    sink.open(context())
    url = sink.url
    sink.close()
    with pytest.raises(urllib.error.URLError):
        get(url, timeout=2)
    assert not [t for t in threading.enumerate() if t.name.startswith("amf-edge-http") and t.is_alive()]


@pytest.mark.skipif(not Path(CHROMIUM).exists(),
                    reason=f"needs headless Chromium at {CHROMIUM} (scripts/install-system-deps.sh installs it)")
def test_http_preview_in_headless_chromium(preview, tmp_path):
    """A real browser loads the page, runs its script (live statistics) and shows the MJPEG stream."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000"]
    dom = subprocess.run(flags + ["--dump-dom", preview.url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    cells = dict(re.findall(r'<td id="(\w+)">([^<]*)</td>', dom.stdout))
    assert cells["fps"] == "12.5" and cells["latency"] == "21.0 / 34.0" and cells["frames"] == "9 / 7 / 2"
    assert cells["backend"] == "fake cpu" and all(name in dom.stdout for name in SYNTHETIC_LABELS.names)
    shot = tmp_path / "page.png"
    taken = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=480,320", preview.url],
                           capture_output=True, text=True, timeout=120)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    page = cv2.imread(str(shot))
    # the stream is drawn at the page's top-left corner (no margin), at its own size
    middle = page[H // 2, W // 2].astype(int)
    assert np.abs(middle - expected_colour()).max() < 16, (middle, expected_colour())
    assert preview.stats()["served"] >= 1

