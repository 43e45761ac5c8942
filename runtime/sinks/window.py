"""`window[://?view=overlay&legend=1]`: an OpenCV window on the local display.

Shows the overlay, the mask or both side by side, a legend of the classes with their colours, and the
FPS and latency so far; the FPS also goes in the window's title (the jetson-inference habit). Keys: q or
Esc quits (the run ends normally), space pauses (the window holds the frame; a live run keeps dropping
frames upstream, a lossless run waits), v switches the view. Closing the window quits too.

Needs a display and an OpenCV build with a GUI (opencv-python, not opencv-python-headless: both wheels
install the same cv2 package, so the headless one has to be uninstalled first); where either is missing
it says so and names the headless sinks instead.
"""

from __future__ import annotations

import os
import re
import sys
import time

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext, StopStream
from amf_edge.runtime.sinks.views import VIEWS, draw_text, legend_panel, render
from amf_edge.uri import FLAG, choice, parse_uri

EXAMPLE = "window://?view=side&legend=1"
TITLE = "amf-edge"
QUIT_KEYS, PAUSE_KEY, VIEW_KEY = (ord("q"), 27), ord(" "), ord("v")
WINDOW_VIEWS = ("overlay", "mask", "side")  # what v cycles through
HEADLESS_HINT = "use --sink http://127.0.0.1:8080 for a browser preview, or video://out.mp4"
# Both wheels install the same cv2 package, so the GUI one installed beside the headless one may not win.
GUI_INSTALL = ('both OpenCV wheels install the same cv2 package, so remove the headless one first: '
               'pip uninstall -y opencv-python-headless && pip install "amf-edge[gui]"')
TITLE_EVERY_S = 0.5  # the FPS in the title changes at most twice a second: readable, and no title churn


def gui_backend(cv2) -> str:
    """The GUI OpenCV was built with, from its build information ("NONE" in the headless wheels)."""
    found = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return found.group(1) if found else "unknown"


class WindowSink(Sink):
    scheme = "window"

    def __init__(self, uri: str):
        super().__init__(uri)
        _, options = parse_uri(uri, "window", {"view": choice(*VIEWS), "legend": FLAG}, EXAMPLE, location="none")
        self.view = options.get("view", "overlay")
        self.show_legend = options.get("legend", True)
        self._legend = None
        self._opened = False
        self._fps = 0.0
        self.title = TITLE  # what the window's title says now
        self._title_at: float | None = None  # monotonic time of the last title update
        self._clock = time.monotonic

    def open(self, context: SinkContext) -> None:
        super().open(context)
        cv2 = self.cv2 = require_module("cv2", "the window sink")
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise AmfEdgeError(f"the window sink needs a display, and this session has none (DISPLAY is not set); "
                               f"{HEADLESS_HINT}")
        headless = f"this is a build without a GUI (opencv-python-headless): {GUI_INSTALL}; or {HEADLESS_HINT}"
        if gui_backend(cv2) == "NONE":  # known before trying: no window call can succeed
            raise AmfEdgeError(f"OpenCV {cv2.__version__} cannot open a window: {headless}")
        try:
            cv2.namedWindow(TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # Qt: no toolbar, no status bar
        except cv2.error as e:
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else "no GUI"
            if "not implemented" in reason.lower():  # a GUI-less build that did not say so
                raise AmfEdgeError(f"OpenCV {cv2.__version__} cannot open a window ({reason}): {headless}") from None
            raise AmfEdgeError(f"OpenCV {cv2.__version__} cannot open a window ({reason}); {HEADLESS_HINT}") from None
        self._opened = True

    def compose(self, result: Result):
        """The picture the window shows: the view, the legend beside it, status lines on top (BGR)."""
        cv2 = self.cv2
        image = render(result, self.view, self.context)
        if self.show_legend:
            if self._legend is None or self._legend.shape[0] != image.shape[0]:
                self._legend = legend_panel(self.context.labels, image.shape[0])
            canvas = cv2.hconcat([image, self._legend])
        else:
            canvas = image.copy()  # the view is shared with other sinks: draw on a copy
        s = self.context.live_stats()
        self._fps = s.get("fps") or 0.0
        latency = f"{s['latency_ms']:.0f} ms" if s.get("latency_ms") is not None else "-"
        draw_text(canvas, [f"{s.get('fps', 0):.1f} FPS  latency {latency}  dropped {s.get('dropped', 0)}",
                           f"{self.view}  [v] view  [space] pause  [q] quit"])
        return canvas

    def write(self, result: Result) -> None:
        cv2 = self.cv2
        cv2.imshow(TITLE, self.compose(result))
        self._update_title()
        self.written += 1
        self._keys(cv2.waitKey(1) & 0xFF, result)

    def _update_title(self) -> None:
        """The FPS in the title: at once on the first frame, then at most every TITLE_EVERY_S."""
        now = self._clock()
        if self._title_at is not None and now - self._title_at < TITLE_EVERY_S:
            return
        self._title_at = now
        title = f"{TITLE} | {self._fps:.1f} FPS"
        if title == self.title:
            return
        try:
            self.cv2.setWindowTitle(TITLE, title)
        except self.cv2.error:  # a GUI backend without titles: the FPS is on the picture anyway
            self._title_at = float("inf")
            return
        self.title = title

    def _keys(self, key: int, result: Result) -> None:
        cv2 = self.cv2
        if key in QUIT_KEYS or cv2.getWindowProperty(TITLE, cv2.WND_PROP_VISIBLE) < 1:
            raise StopStream
        if key == VIEW_KEY:
            self._next_view(result)
        if key != PAUSE_KEY:
            return
        while True:  # paused: hold this frame until space again
            key = cv2.waitKey(50) & 0xFF
            if key in QUIT_KEYS or cv2.getWindowProperty(TITLE, cv2.WND_PROP_VISIBLE) < 1:
                raise StopStream
            if key == VIEW_KEY:
                self._next_view(result)
            if key == PAUSE_KEY:
                return

    def _next_view(self, result: Result) -> None:
        current = WINDOW_VIEWS.index(self.view) if self.view in WINDOW_VIEWS else -1
        self.view = WINDOW_VIEWS[(current + 1) % len(WINDOW_VIEWS)]
        self.cv2.imshow(TITLE, self.compose(result))

    def close(self, report: RunReport | None = None) -> None:
        if self._opened:
            self._opened = False
            self.cv2.destroyWindow(TITLE)
            self.cv2.waitKey(1)  # lets the GUI backend actually take the window down

    def stats(self) -> dict:
        return {"written": self.written, "view": self.view}
