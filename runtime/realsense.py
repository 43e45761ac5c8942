"""librealsense plumbing shared by realsense:// (cameras), bag:// (recordings) and `amf-edge record`.

One reader serves cameras and recordings alike, so what the recordings test also covers the camera path:
it opens the depth and colour sensors itself, each frame goes from the sensor callback into a queue,
`amf_edge.runtime.sync.StreamSynchronizer` pairs the two streams by timestamp, and each pair becomes a frameset
for `rs.align(rs.stream.color)`. Why not `rs.pipeline`: on playback it starts the sensors one after
the other while the file already plays, in real time until `set_real_time(False)` can be called, so
the first frames are often lost (with pyrealsense2 2.59.1, 1 or 2 of 6 frames of a short .db3, and
sometimes frame 1 of a .bag), and its syncer emits stale partial framesets on .db3 files. Pausing the
playback while the sensors start loses nothing, and pairing ourselves gives one pair per frame and
honest statistics.

Recordings play with `set_real_time(False)` unless asked otherwise: the player then waits for a slow
reader (our callback blocks on a full queue), so offline processing loses no frame. Cameras (and
real-time playback) never wait: a full queue drops its oldest frame and counts it.

pyrealsense2 is imported only when a RealSense source or the record command runs.
"""

from __future__ import annotations

import importlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sync import StreamSynchronizer
from amf_edge.sample import Intrinsics, RGBDSample

COLOR_FORMATS = ("rgb8", "bgr8", "rgba8", "bgra8")  # what we convert to RGB; cameras are asked for rgb8
QUEUE_FRAMES = 4  # frames in flight between librealsense's threads and the reader: enough to absorb jitter
# Frames one stream may hold while waiting for the other. librealsense lends frames from small per-sensor
# pools and silently drops new ones while we hold too many (a playback held at 32 lost every frame after
# the 32nd); 8 (+ the queue) stays clear of that and still spans a quarter second at 30 fps.
PENDING_FRAMES = 8
NO_PAIR_LIMIT = 60  # unpaired frames (2 s at 30 fps) before streams that never pair are an error


def import_rs() -> ModuleType:
    """pyrealsense2, or an AmfEdgeError that says what to install."""
    try:
        return importlib.import_module("pyrealsense2")
    except ImportError as e:
        if "libusb" in str(e):
            raise AmfEdgeError(f"pyrealsense2 is installed but cannot load libusb ({e}); install it, e.g. "
                               "`sudo apt-get install libusb-1.0-0`") from None
    return require_module("pyrealsense2", "RealSense cameras and recordings")


def describe_device(device: object) -> str:
    rs = import_rs()
    info = {}
    for key in ("name", "serial_number", "firmware_version", "usb_type_descriptor"):
        field = getattr(rs.camera_info, key)
        if device.supports(field):
            info[key] = device.get_info(field)
    text = f"{info.get('name', 'unknown device')} (serial {info.get('serial_number', '?')}"
    text += f", firmware {info['firmware_version']}" if "firmware_version" in info else ""
    text += f", USB {info['usb_type_descriptor']}" if "usb_type_descriptor" in info else ""
    return text + ")"


def find_camera(serial: str | None) -> object:
    """The connected camera with `serial`, or the only one when `serial` is None."""
    rs = import_rs()
    devices = list(rs.context().query_devices())
    serials = [d.get_info(rs.camera_info.serial_number) for d in devices]
    listing = "; ".join(describe_device(d) for d in devices) or "none"
    if not devices:
        raise AmfEdgeError("no RealSense camera is connected; plug one in (USB 3) or play a recording with "
                           "bag://FILE.db3. Connected devices: none")
    if serial is None:
        if len(devices) > 1:
            raise AmfEdgeError(f"{len(devices)} RealSense cameras are connected; name one as realsense://SERIAL. "
                               f"Connected: {listing}")
        return devices[0]
    if serial not in serials:
        raise AmfEdgeError(f"no RealSense camera with serial {serial!r}; connected: {listing}")
    return devices[serials.index(serial)]


@dataclass
class StreamChoice:
    """The sensor and stream profile chosen for one stream."""

    sensor: object
    profile: object

    @property
    def fps(self) -> int:
        return self.profile.fps()


def _mode(profile: object) -> str:
    v = profile.as_video_stream_profile()
    return f"{profile.stream_type().name} {profile.format().name} {v.width()}×{v.height()}@{profile.fps()}"


def choose_streams(device: object, *, width: int | None = None, height: int | None = None, fps: int | None = None,
                   color_formats: tuple[str, ...] = COLOR_FORMATS,
                   what: str = "the camera") -> tuple[StreamChoice, StreamChoice]:
    """(depth, colour): a z16 depth profile and a colour profile in `color_formats` (earlier ones preferred),
    both at width×height@fps when those are given (a camera), or whatever a recording holds."""
    wanted = {"depth": ("z16",), "color": color_formats}
    found: dict[str, list[tuple[int, StreamChoice]]] = {"depth": [], "color": []}
    modes = []
    try:
        # librealsense reads a recording's sensors lazily and fails with a bare "map::at" when one that the
        # file names has no streams (a recording made with depth or colour switched off)
        profiles = [(sensor, profile) for sensor in device.query_sensors() for profile in sensor.get_stream_profiles()]
    except RuntimeError as e:
        raise AmfEdgeError(f"librealsense cannot list the streams of {what} ({e}): it lacks the depth stream "
                           f"(z16) or the colour stream ({'/'.join(color_formats)}); amf-edge needs both: record "
                           "with depth and colour enabled (`amf-edge record` does)") from None
    for sensor, profile in profiles:
        if not profile.is_video_stream_profile():
            continue
        stream = profile.stream_type().name
        modes.append(_mode(profile))
        if stream not in wanted or profile.format().name not in wanted[stream]:
            continue
        v = profile.as_video_stream_profile()
        if ((width, height, fps) != (None, None, None)
                and (v.width(), v.height(), profile.fps()) != (width, height, fps)):
            continue
        found[stream].append((wanted[stream].index(profile.format().name), StreamChoice(sensor, profile)))
    missing = [s for s in ("depth", "color") if not found[s]]
    if missing:
        asked = f" at {width}×{height}@{fps}" if width is not None else ""
        lacking = " and no ".join(f"{s} stream ({'/'.join(wanted[s])}){asked}" for s in missing)
        offers = ", ".join(sorted(set(modes))) or "no video streams"
        hint = "; pick a mode both streams offer with ?width=&height=&fps=" if width is not None else ""
        raise AmfEdgeError(f"{what} has no {lacking}; it offers: {offers}{hint}")
    depth, color = (min(found[s], key=lambda c: c[0])[1] for s in ("depth", "color"))
    return depth, color


def depth_unit_of(device: object) -> float:
    """Metres per depth count. librealsense stores it as float32 (0.001 reads 0.0010000000474974513);
    7 significant digits, all float32 holds, give back the decimal the device was set to."""
    return float(f"{device.first_depth_sensor().get_depth_scale():.7g}")


class _Handoff:
    """Frames from librealsense's callback threads to the reader: blocking (lossless) or newest-wins."""

    def __init__(self, lossless: bool, position: Callable[[], int] | None = None) -> None:
        self.lossless = lossless
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.closing = False
        self.dropped = 0
        self.position = position  # a playback's position (ns into the recording), read as each frame arrives
        self.played_ns = 0  # the furthest position a frame arrived at

    def __call__(self, frame: object) -> None:
        # Runs on librealsense's threads: never raise here, and never block once the reader is closing
        # (sensor.stop() waits for this callback to return).
        if self.position is not None:
            try:
                self.played_ns = max(self.played_ns, self.position())
            except RuntimeError:
                pass  # the player is stopping; the frame itself still counts below
        if self.lossless:
            while not self.closing:
                try:
                    self.queue.put(frame, timeout=0.05)
                    return
                except queue.Full:
                    continue
            return
        while not self.closing:
            try:
                self.queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass


class RealSenseReader:
    """Aligned, paired frames from a camera or a playback device (see the module docstring).

    Args:
        device: an `rs.device` (camera, `rs.software_device`) or an `rs.playback`.
        depth, color: the streams to open (`choose_streams`).
        live: never wait for the reader (cameras, real-time playback); drop the oldest frame instead.
        max_dt: pairing tolerance in seconds; default half the frame period of the slower stream.
        timeout_s: how long a live device may stay silent before it is an error.
        what: how messages name the device ("camera 123", "recording x.db3").
        sync: a synchronizer to continue (a looped recording keeps its statistics across passes).
    """

    def __init__(self, device: object, depth: StreamChoice, color: StreamChoice, *, live: bool,
                 max_dt: float | None = None, timeout_s: float = 5.0, what: str = "the camera",
                 sync: StreamSynchronizer | None = None) -> None:
        self.rs = import_rs()
        self.device, self.depth, self.color, self.what = device, depth, color, what
        self.live, self.timeout_s = live, timeout_s
        self.playback = device.as_playback() if device.is_playback() else None
        self.max_dt = max_dt if max_dt is not None else 0.5 / min(depth.fps, color.fps)
        self.depth_unit = depth_unit_of(device)
        self.color_format = color.profile.format().name
        self.sync = sync or StreamSynchronizer(self.max_dt, max_pending=PENDING_FRAMES)
        self.delivered = 0
        self._dropped = 0  # by earlier passes; the current one counts in its handoff
        self.timestamp_domain: str | None = None
        self.ended_early: str | None = None  # a playback librealsense stopped before the end of its file
        self._handoff: _Handoff | None = None
        self._started: list[object] = []
        self._resuming: threading.Thread | None = None
        self._align = self.rs.align(self.rs.stream.color)
        self._composer = _Composer(self.rs)

    def frames(self) -> Iterator[Frame]:
        """One pass: until the recording ends, or forever for a camera. Frame.index is the colour frame number."""
        rs = self.rs
        self._dropped = self.dropped
        handoff = self._handoff = _Handoff(lossless=not self.live,
                                           position=self.playback.get_position if self.playback else None)
        if self.playback is not None:
            self.playback.set_real_time(self.live)
            self.playback.pause()  # nothing plays until both sensors listen (see the module docstring)
        try:
            for choice in (self.depth, self.color):
                choice.sensor.open(choice.profile)
                self._started.append(choice.sensor)
                choice.sensor.start(handoff)
        except RuntimeError as e:
            self._stop()
            raise AmfEdgeError(f"librealsense cannot start {self.what}: {e}; is another program using it?") from None
        if self.playback is not None:
            # resume() waits (up to 10 s) until the player's thread has run its request; that thread may be
            # blocked handing us frames while our queue is full. Resume from another thread so that this
            # one drains the queue meanwhile.
            self._resuming = threading.Thread(target=self.playback.resume, name="playback-resume", daemon=True)
            self._resuming.start()
        waited_since, limit = time.monotonic(), 2 * self.timeout_s  # a camera takes a moment to start
        domains: dict[str, str] = {}
        try:
            while True:
                try:
                    frame = handoff.queue.get(timeout=0.05)
                except queue.Empty:
                    if self.playback is not None and self.playback.current_status() == rs.playback_status.stopped:
                        if handoff.queue.empty():  # the player flushes its frames before it reports stopped
                            break
                        continue
                    if time.monotonic() - waited_since > limit:
                        raise AmfEdgeError(f"no frame from {self.what} for {limit:.1f} s; check the cable and "
                                           "that no other program uses the device") from None
                    continue
                waited_since, limit = time.monotonic(), self.timeout_s
                stream = "depth" if frame.get_profile().stream_type() == rs.stream.depth else "color"
                domains.setdefault(stream, frame.get_frame_timestamp_domain().name)
                self.timestamp_domain = domains.get("color")
                # the arrival time travels with the frame: sync_ms counts from the pair's first image
                arrived = (frame, time.perf_counter())
                for c, d in self.sync.push(stream, frame.get_frame_number(), frame.get_timestamp() / 1000.0, arrived):
                    yield self._to_frame(c.payload, d.payload)
                self._check_pairing(domains)
            self.sync.finish()
            if self.playback is not None:
                self._check_played_to_the_end(handoff)
        finally:
            self._stop()

    def _check_played_to_the_end(self, handoff: _Handoff) -> None:
        """librealsense stops a playback at a record it cannot parse (it prints "Received an invalid TCPROS
        header" and reports the end of the file): the frames after it are lost without an error. The position
        of the last frame against the recording's duration tells; a lossless replay fails, a real-time one
        (frames may be lost anyway) notes it in `ended_early`."""
        duration = self.playback.get_duration().total_seconds()
        played = handoff.played_ns / 1e9
        # the last image may come a little before the end of a file whose last message is of another stream
        slack = max(3.0 / min(self.depth.fps, self.color.fps), 0.1)
        if played + slack >= duration:
            return
        self.ended_early = (f"cut short by a damaged record: librealsense stopped playing it at {played:.2f} s of "
                            f"{duration:.2f} s")
        if not self.live:
            raise AmfEdgeError(f"{self.what} is {self.ended_early} (its reason is printed above); the {self.delivered} "
                               "frames before it were played, the rest is lost. Play it with ?realtime=1 to take what "
                               "is there without this error")

    def _check_pairing(self, domains: dict[str, str]) -> None:
        """Fail loudly when the streams never pair, instead of yielding nothing for ever."""
        stats = self.sync.stats
        if stats.matched == 0 and stats.unmatched_color + stats.unmatched_depth >= NO_PAIR_LIMIT:
            raise AmfEdgeError(
                f"{self.what}: {stats.unmatched_color} colour and {stats.unmatched_depth} depth frames, but no two "
                f"closer than max_dt={self.max_dt:.4f} s (timestamp domains: colour {domains.get('color')}, depth "
                f"{domains.get('depth')}); the streams are not on one clock. On a camera, enable its metadata "
                "(librealsense's kernel patches or RSUSB build) so that both streams carry hardware timestamps")

    def _to_frame(self, color_arrival: tuple, depth_arrival: tuple) -> Frame:
        (color, color_s), (depth, depth_s) = color_arrival, depth_arrival
        try:
            aligned = self._align.process(self._composer.frameset(depth, color))
        except RuntimeError as e:
            raise AmfEdgeError(f"librealsense could not align depth to colour for {self.what}: {e}; the depth "
                               "and colour streams need intrinsics and extrinsics") from None
        c, d = aligned.get_color_frame(), aligned.get_depth_frame()
        rgb = to_rgb(np.asanyarray(c.get_data()), self.color_format)
        k = c.get_profile().as_video_stream_profile().get_intrinsics()
        sample = RGBDSample(rgb, np.array(np.asanyarray(d.get_data()), np.uint16), self.depth_unit,
                            intrinsics=Intrinsics(k.fx, k.fy, k.ppx, k.ppy))
        self.delivered += 1
        now = time.perf_counter()
        return Frame(sample, c.get_frame_number(), c.get_timestamp() / 1000.0, now,
                     sync_ms=(now - min(color_s, depth_s)) * 1e3)

    @property
    def dropped(self) -> int:
        """Frames a live reader dropped because the consumer was slower than the device."""
        return self._dropped + (self._handoff.dropped if self._handoff is not None else 0)

    def stats(self) -> dict:
        return {**self.sync.stats.to_dict(), "frames": self.delivered, "dropped": self.dropped,
                "max_dt_s": self.max_dt, "timestamp_domain": self.timestamp_domain}

    def _stop(self) -> None:
        if self._handoff is not None:
            self._handoff.closing = True  # unblocks the callbacks, and with them the player and resume()
        if self._resuming is not None:
            self._resuming.join(timeout=10)
            self._resuming = None
        for sensor in self._started:
            for step in (sensor.stop, sensor.close):
                try:
                    step()
                except RuntimeError:
                    pass  # already stopped (end of file) or never started: nothing left to release
        self._started = []

    def close(self) -> None:
        self._stop()


def to_rgb(pixels: np.ndarray, fmt: str) -> np.ndarray:
    """A copy of a colour frame's pixels as uint8 H×W×3 RGB (the frame's buffer goes back to librealsense)."""
    if fmt == "rgb8":
        return pixels.copy()
    if fmt == "rgba8":
        return np.ascontiguousarray(pixels[..., :3])
    if fmt in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    raise AmfEdgeError(f"colour stream format {fmt} is not supported; expected one of {', '.join(COLOR_FORMATS)}")


class _Composer:
    """Makes one frameset of a depth and a colour frame, which is what `rs.align` takes.

    Python cannot build a composite frame directly; a processing block's frame source can.
    """

    def __init__(self, rs: ModuleType) -> None:
        self._pending: object = None
        self._result: object = None
        self._block = rs.processing_block(self._combine)
        self._block.start(self._store)

    def _combine(self, color: object, source: object) -> None:
        source.frame_ready(source.allocate_composite_frame([self._pending, color]))

    def _store(self, frame: object) -> None:
        self._result = frame

    def frameset(self, depth: object, color: object) -> object:
        # invoke() runs both callbacks on this thread before it returns.
        self._pending, self._result = depth, None
        self._block.invoke(color)
        result, self._pending, self._result = self._result, None, None
        if result is None:
            raise RuntimeError("the processing block returned no frameset")
        return result.as_frameset()

