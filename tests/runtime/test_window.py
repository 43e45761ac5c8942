"""The window sink: its status text (pixels, on OpenCV 4 and 5), its keys and title with OpenCV's window
functions scripted, its messages where no window can open, and a real window on an Xvfb display, read back
from the screen. numpy + OpenCV only; the Xvfb test also needs Xvfb and an OpenCV with a GUI (opencv-python)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks import Result, SinkContext, StopStream, sink_from_uri
from amf_edge.runtime.sinks.views import draw_text, render
from amf_edge.runtime.sinks.window import gui_backend
from amf_edge.sample import RGBDSample
from amf_edge.synthetic import SYNTHETIC_LABELS

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")
H, W = 48, 64
LIVE = {"policy": "live", "fps": 12.5, "latency_ms": 21.0, "latency_max_ms": 34.0,
        "frames_in": 9, "frames_out": 7, "dropped": 2}
GUI_INSTALL = 'pip uninstall -y opencv-python-headless && pip install "amf-edge[gui]"'


def context(**kwargs) -> SinkContext:
    defaults = {"labels": SYNTHETIC_LABELS, "channel_order": "RGB", "policy": "lossless",
                "backend": {"backend": "fake", "device": "cpu"}, "frame_size": (H, W), "live_stats": lambda: dict(LIVE)}
    return SinkContext(**{**defaults, **kwargs})


def make_result(index: int) -> Result:
    yy, xx = np.mgrid[:H, :W]
    rgb = np.stack([xx * 255 // W, yy * 255 // H, np.full_like(xx, 128)], -1).astype(np.uint8)
    labels = ((xx // 8 + yy // 8 + index) % SYNTHETIC_LABELS.num_classes).astype(np.uint8)
    sample = RGBDSample(rgb, np.full((H, W), 1500, np.uint16), 0.001)
    return Result(Frame(sample, index, index / 30, time.perf_counter()), {"labels": labels},
                  {"capture_wait": 1.0, "preprocess": 0.1, "inference": 5.0})


# -- the status text ----------------------------------------------------------------------------------

def strays(pixels: np.ndarray, near: np.ndarray, radius: int) -> int:
    """How many of `pixels` lie farther than `radius` pixels (chessboard) from every pixel of `near`."""
    grown = cv2.dilate(near.astype(np.uint8), np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) > 0
    return int(np.count_nonzero(pixels & ~grown))


def box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


@pytest.mark.parametrize("height", [240, 400, 480])  # text scales 0.35, 0.5, 0.6
def test_status_text_is_light_glyphs_outlined_in_dark(height):
    """The outline follows the fill glyph for glyph. OpenCV 5 draws a thicker Hershey text with wider advances,
    so an outline drawn as the same text with a larger thickness drifts away from the fill along the line."""
    image = np.full((height, 640, 3), 128, np.uint8)  # mid grey: neither the fill nor the outline
    draw_text(image, ["12.5 FPS  latency 21 ms  dropped 2", "overlay  [v] view  [space] pause  [q] quit"])
    # lighter than the grey: only the fill makes that; white: the fill's core; near black: the outline's core
    light, white, dark = image.min(-1) >= 135, image.min(-1) >= 200, image.max(-1) <= 50
    assert np.count_nonzero(white) > 200 and np.count_nonzero(dark) > 200
    assert strays(white, dark, 2) == 0, "fill pixels without an outline around them"
    assert strays(dark, light, 3) == 0, "outline pixels away from the fill (outline and fill glyphs apart)"
    (lx0, ly0, lx1, ly1), (dx0, dy0, dx1, dy1) = box(light), box(dark)
    assert 0 <= lx0 - dx0 <= 2 and 0 <= ly0 - dy0 <= 2 and 0 <= dx1 - lx1 <= 2 and 0 <= dy1 - ly1 <= 2, \
        f"fill box {box(light)} and outline box {box(dark)} differ by more than the outline"
    ink = (image != 128).any(-1)
    assert box(ink)[2] < 600  # the longest line fits the picture: the box comparison saw whole lines


def test_status_text_is_drawn_into_a_view_of_a_larger_picture():
    picture = np.full((240, 700, 3), 90, np.uint8)
    view = picture[:, 30:670]  # not contiguous: OpenCV would draw into a copy
    draw_text(view, ["12.5 FPS"])
    alone = np.full((240, 640, 3), 90, np.uint8)
    draw_text(alone, ["12.5 FPS"])
    assert np.array_equal(view, alone) and (picture[:, :30] == 90).all() and (picture[:, 670:] == 90).all()


# -- scripted window functions ------------------------------------------------------------------------

class FakeGui:
    """OpenCV's window functions, scripted: waitKey returns the next key of `keys` (-1 when none left)."""

    def __init__(self, monkeypatch, keys, visible=1.0):
        self.keys, self.visible, self.shown, self.destroyed, self.titles = list(keys), visible, [], [], []
        monkeypatch.setenv("DISPLAY", ":0")
        monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           QT5\n")
        monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
        monkeypatch.setattr(cv2, "imshow", lambda title, image: self.shown.append(image.copy()))
        monkeypatch.setattr(cv2, "waitKey", lambda delay: self.keys.pop(0) if self.keys else -1)
        monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: self.visible)
        monkeypatch.setattr(cv2, "destroyWindow", lambda title: self.destroyed.append(title))
        monkeypatch.setattr(cv2, "setWindowTitle", lambda name, title: self.titles.append((name, title)))


def test_window_keys_switch_view_pause_and_quit(monkeypatch):
    gui = FakeGui(monkeypatch, [ord("v"), ord(" "), -1, -1, ord("v"), ord(" "), -1, ord("q")])
    sink = sink_from_uri("window")
    sink.open(context())
    sink.write(make_result(0))  # shows overlay, then v: redrawn as the mask
    assert sink.view == "mask" and len(gui.shown) == 2
    legend = gui.shown[0].shape[1] - W
    assert legend > 40 and gui.shown[0].shape[0] == H
    sink.write(make_result(1))  # space: paused until the next space, v while paused switches to side
    assert sink.view == "side" and gui.keys == [-1, ord("q")] and gui.shown[-1].shape[1] == 2 * W + legend
    sink.write(make_result(2))
    with pytest.raises(StopStream):
        sink.write(make_result(3))  # q
    sink.close()
    assert gui.destroyed == ["amf-edge"] and sink.stats()["written"] == 4


def test_window_draws_status_and_closing_it_quits(monkeypatch):
    gui = FakeGui(monkeypatch, [])
    sink = sink_from_uri("window://?legend=0")
    sink.open(context())
    result = make_result(0)
    sink.write(result)
    shown = gui.shown[0]
    assert shown.shape == (H, W, 3)
    assert not np.array_equal(shown, render(result, "overlay", context()))  # the FPS line is drawn on a copy
    assert np.array_equal(result.views["overlay"], render(make_result(0), "overlay", context()))  # shared: untouched
    gui.visible = 0.0  # the user closed the window
    with pytest.raises(StopStream):
        sink.write(make_result(1))


def test_window_title_shows_the_fps_at_most_twice_a_second(monkeypatch):
    gui = FakeGui(monkeypatch, [])
    stats, now = dict(LIVE), [100.0]
    sink = sink_from_uri("window")
    sink.open(context(live_stats=lambda: dict(stats)))
    sink._clock = lambda: now[0]
    sink.write(make_result(0))  # the first frame sets the title at once
    assert gui.titles == [("amf-edge", "amf-edge | 12.5 FPS")] and sink.title == "amf-edge | 12.5 FPS"
    stats["fps"], now[0] = 14.04, now[0] + 0.3
    sink.write(make_result(1))  # too soon after the last update
    assert len(gui.titles) == 1
    now[0] += 0.3
    sink.write(make_result(2))
    assert gui.titles[-1] == ("amf-edge", "amf-edge | 14.0 FPS") and len(gui.titles) == 2
    now[0] += 1.0
    sink.write(make_result(3))  # the same text: the title is left alone
    assert len(gui.titles) == 2 and sink.title == "amf-edge | 14.0 FPS"


def test_window_without_titles_still_shows_frames(monkeypatch):
    gui = FakeGui(monkeypatch, [])

    def no_titles(name, title):
        gui.titles.append(title)
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(cv2, "setWindowTitle", no_titles)
    sink = sink_from_uri("window")
    sink.open(context())
    now = [0.0]
    sink._clock = lambda: now[0]
    for i in range(3):
        now[0] += 1.0
        sink.write(make_result(i))
    assert len(gui.shown) == 3 and len(gui.titles) == 1 and sink.title == "amf-edge"  # tried once


# -- where no window can open -------------------------------------------------------------------------

def test_window_without_a_display_says_what_to_use(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sink = sink_from_uri("window")
    with pytest.raises(AmfEdgeError, match="needs a display.*http://127.0.0.1:8080.*video://out.mp4"):
        sink.open(context())
    sink.close()


def headless_message(excinfo) -> str:
    message = str(excinfo.value)
    assert "cannot open a window" in message and GUI_INSTALL in message and "same cv2 package" in message
    assert "http://127.0.0.1:8080" in message  # and the headless sinks
    return message


def test_window_with_a_headless_opencv_says_to_remove_it_first(monkeypatch):
    """A real headless build where this OpenCV is one; said from its build information, before any window call."""
    if gui_backend(cv2) != "NONE":
        pytest.skip(f"this OpenCV has a GUI ({gui_backend(cv2)}); the scripted tests below cover the message")
    monkeypatch.setenv("DISPLAY", ":99")
    with pytest.raises(AmfEdgeError) as excinfo:
        sink_from_uri("window").open(context())
    headless_message(excinfo)


@pytest.mark.parametrize("build, window_error", [
    ("  GUI:                           NONE\n", None),  # the headless wheels say so
    ("", "OpenCV(4.8.1) error: (-2:Unspecified error) The function is not implemented. Rebuild the library with "
         "Windows, GTK+ 2.x or Cocoa support."),  # a build that did not say, failing at the window
])
def test_window_on_a_build_without_a_gui_says_to_remove_the_headless_wheel(monkeypatch, build, window_error):
    calls = []

    def named_window(*args):
        calls.append(args)
        raise cv2.error(window_error)

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: build)
    monkeypatch.setattr(cv2, "namedWindow", named_window)
    with pytest.raises(AmfEdgeError) as excinfo:
        sink_from_uri("window").open(context())
    headless_message(excinfo)
    assert len(calls) == (0 if window_error is None else 1)


def test_window_that_fails_on_a_gui_build_says_why_without_the_install_hint(monkeypatch):
    def named_window(*args):
        raise cv2.error("Can't initialize GTK backend in function 'cvInitSystem'")

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(cv2, "getBuildInformation", lambda: "  GUI:                           GTK3\n")
    monkeypatch.setattr(cv2, "namedWindow", named_window)
    with pytest.raises(AmfEdgeError, match=r"cannot open a window \(Can't initialize GTK backend.*http://127") as e:
        sink_from_uri("window").open(context())
    assert "uninstall" not in str(e.value)


# -- a real window on Xvfb ----------------------------------------------------------------------------

# Runs in a child process (a GUI backend owns its process: threads, event loop, abort on a lost display).
# Shows one known frame, saves what compose() drew, reports the title, keeps the window up until told to close.
WINDOW_CHILD = textwrap.dedent("""
    import select, sys, time
    import cv2, numpy as np
    from amf_edge.runtime.frames import Frame
    from amf_edge.runtime.sinks import Result, SinkContext, sink_from_uri
    from amf_edge.sample import RGBDSample
    from amf_edge.synthetic import SYNTHETIC_LABELS

    h, w = 240, 320
    labels = np.full((h, w), 3, np.uint8)
    labels[:, w // 2:] = 6
    rgb = np.full((h, w, 3), (40, 90, 200), np.uint8)
    result = Result(Frame(RGBDSample(rgb, np.full((h, w), 1500, np.uint16), 0.001), 0, 0.0, time.perf_counter()),
                    {"labels": labels}, {})
    live = {"fps": 12.5, "latency_ms": 21.0, "dropped": 2}
    context = SinkContext(labels=SYNTHETIC_LABELS, channel_order="RGB", policy="live", backend={}, frame_size=(h, w),
                          live_stats=lambda: dict(live))
    sink = sink_from_uri(sys.argv[1])
    sink.open(context)
    for _ in range(5):
        sink.write(result)
        cv2.waitKey(20)
    cv2.imwrite(sys.argv[2], sink.compose(result))
    print("shown", sink.title, flush=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not select.select([sys.stdin], [], [], 0)[0]:
        sink.write(result)  # keeps the GUI's event loop going while the test looks at the screen
        cv2.waitKey(20)
    sink.close()
    print("closed", sink.stats(), flush=True)
""")


@pytest.fixture
def xvfb():
    """A fresh Xvfb display (":N"); Xvfb picks a free number and writes it on a pipe when it is ready."""
    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (Debian: apt-get install xvfb xauth; `make` installs it)")
    if gui_backend(cv2) == "NONE":
        pytest.skip(f"this OpenCV {cv2.__version__} has no GUI (opencv-python-headless): {GUI_INSTALL}")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write)
    try:
        number, deadline = b"", time.monotonic() + 10
        while not number.endswith(b"\n") and time.monotonic() < deadline:  # may come in pieces; Xvfb dies if the
            if select.select([read], [], [], 0.5)[0]:                        # pipe closes before the newline
                chunk = os.read(read, 16)
                if not chunk:
                    break
                number += chunk
        assert number.strip().isdigit(), f"Xvfb did not start: {server.stderr.read1().decode(errors='replace')[-2000:]}"
        yield f":{number.decode().strip()}"
    finally:
        os.close(read)
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


def window_names(display: str) -> list[str] | None:
    """The names of the display's top-level windows (xwininfo, from x11-utils), or None without xwininfo."""
    if shutil.which("xwininfo") is None:
        return None
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display},
                          capture_output=True, text=True, timeout=10, check=True).stdout
    return [line.split('"')[1] for line in tree.splitlines() if line.count('"') >= 2]


def grab(display: str) -> np.ndarray:
    """The display's screen, BGR."""
    from PIL import ImageGrab  # Pillow (matplotlib's dependency); the PyPI wheels grab X screens through XCB

    return cv2.cvtColor(np.asarray(ImageGrab.grab(xdisplay=display)), cv2.COLOR_RGB2BGR)


def find(screen: np.ndarray, picture: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Where on the screen `picture` matches best, and the screen's pixels there."""
    _, _, _, (x, y) = cv2.minMaxLoc(-cv2.matchTemplate(screen, picture, cv2.TM_SQDIFF))
    return screen[y:y + picture.shape[0], x:x + picture.shape[1]], (x, y)


def test_window_shows_the_frame_on_a_real_display(xvfb, tmp_path):
    """The window on an X server (no window manager), read back from the screen: compose()'s picture, pixel for
    pixel (the overlay and mask of the known frame, the legend, the outlined status text), and the FPS in the title.

    OpenCV 5.1's Qt backend now and then never paints a new window on an X server without a window manager (the
    window is mapped but stays black, plain cv2.imshow too: about 1 in 10 here; 4.8's Qt does not): a window that
    stays all black is opened again, up to three times. A window with other pixels fails at once.
    """
    env = {**os.environ, "DISPLAY": xvfb}
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("QT_QPA_PLATFORM", None)
    composed = tmp_path / "composed.png"
    for attempt in range(3):
        child = subprocess.Popen([sys.executable, "-c", WINDOW_CHILD, "window://?view=side&legend=1", str(composed)],
                                 env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            ready = select.select([child.stdout], [], [], 20)[0]
            line = child.stdout.readline() if ready else ""
            assert line.startswith("shown"), f"the window did not come up: {line!r} {child.stderr.read()[-3000:]}"
            assert line.split(None, 1)[1].strip() == "amf-edge | 12.5 FPS"  # what the sink set
            expected = cv2.imread(str(composed))
            assert expected is not None and expected.shape[0] == 240 and expected.shape[1] > 2 * 320  # side + legend
            deadline = time.monotonic() + 2
            while True:  # until the window is drawn
                screen = grab(xvfb)
                crop, at = find(screen, expected)
                if np.abs(crop.astype(int) - expected).max() <= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            cv2.imwrite(str(tmp_path / f"screen-{attempt}.png"), screen)
            if screen.max() == 0 and attempt < 2:
                continue  # never painted (see above): open it again
            assert np.abs(crop.astype(int) - expected).max() <= 2, f"the window's pixels are not the frame: {tmp_path}"
            lut, frame = context().lut_bgr, np.array([[[200, 90, 40]]], np.uint8)  # the child's frame, BGR
            for x, label in ((80, 3), (240, 6)):  # overlay | mask, each half class 3 | class 6
                blend = cv2.addWeighted(frame, 0.5, lut[label][None, None], 0.5, 0)[0, 0]
                assert (crop[120, x] == blend).all() and (crop[120, 320 + x] == lut[label]).all(), (x, label)
            status = crop[:40, :320]
            assert (status.min(-1) >= 200).sum() > 50 and (status.max(-1) <= 50).sum() > 50  # light text, outline
            names = window_names(xvfb)
            if names is not None:  # the title as the X server has it
                assert "amf-edge | 12.5 FPS" in names, names
            child.stdin.write("close\n")
            child.stdin.flush()
            out, err = child.communicate(timeout=10)
            assert child.returncode == 0 and "closed" in out, err[-3000:]
            return
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
