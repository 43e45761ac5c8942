"""Capture → inference → output on three threads joined by bounded queues.

    capture thread          inference thread                       output (the calling thread)
    source → [frames] →  contract.inputs, backend.submit/collect → [results] → sink.write for each sink

Two policies:
  live      newest frame wins: a full queue drops its oldest frame (counted), so a slow stage costs
            frames, never latency; capture never waits. Default for live sources (cameras).
  lossless  every frame, in order: a full queue makes the stage before it wait (back-pressure).
            Default for recordings and other file sources.

Sinks run on the calling thread: OpenCV windows want the thread that created them, and signals arrive
there. The end of the stream, `--max-frames`, a sink's StopStream (q in the window), a stop signal
(SIGINT = Ctrl-C, SIGTERM, SIGHUP) and an exception in any stage all end the run the same way: stop
capture, count what is still queued, close every sink (a video is finalized, statistics written), print
the summary, then re-raise the exception, if any (`Interrupted`, a KeyboardInterrupt, for a signal). A
source's exception (a damaged recording) first lets the frames it handed out before reach every sink.

Signals only set a flag while the pipeline runs; the output thread acts on it between frames. Raising
from the handler (Python's default for SIGINT) lands anywhere: inside a lock, a thread join or a sink's
close. That is how two Ctrl-Cs a few ms apart used to abort the process: the second one broke out of
the join of the inference thread, the sinks were never closed (an .mp4 without its index, no stats),
and `amf-edge run` then closed the ONNX Runtime session under the thread still running it: "terminate
called without an active exception", SIGABRT. Now a second signal only cuts the wait for the worker
threads short; the sinks are still closed, and a caller must not close the source or the backend while
`workers_alive()` (amf_edge.cli.run leaves the process at once instead).

Every frame that enters is accounted for: frames_in = frames_out + dropped (capture, output, shutdown).
Frames a source's own reader dropped before handing them on (a camera or real-time recording outrunning the
pipeline) never entered: they are `dropped.source`, from the source's stats, and in `dropped_total` too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
from collections import deque
from collections.abc import Sequence

import numpy as np

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.backends.base import Backend
from amf_edge.runtime.fallback import FALLBACK_NOTE, DepthFallback
from amf_edge.runtime.fallback import describe as describe_fallback
from amf_edge.runtime.framelog import KEEP_FRAMES, FrameLog
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext, StopStream
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import MAX_DEPTH_M
from amf_edge.transforms import resize_sample

POLICIES = ("live", "lossless")
# live: one waiting frame bounds latency to about one frame of every stage; lossless: a little slack
# lets capture run ahead through short hiccups of the later stages.
QUEUE_SIZES = {"live": 1, "lossless": 4}
JOIN_TIMEOUT_S = 10.0  # a camera driver stuck in a read must not hang the shutdown forever
# A frame's latency, capture to output, is the sum of these stages (docs/bench-report.md defines each):
#   sync         the source pairing and aligning colour and depth, from the first image's arrival;
#   queue        waiting in the queues and for the inference thread;
#   preprocess   ModelContract.inputs on the host;
#   upload, download   host↔device copies, from the backend's device events (0 on the CPU);
#   inference    the rest of the time from submit to collect;
#   postprocess  handing the outputs on to the output thread;
#   sink         writing to every sink.
# capture_wait, the capture thread waiting for the source, comes before the frame exists: not latency.
LATENCY_STAGES = ("sync", "queue", "preprocess", "upload", "inference", "download", "postprocess", "sink")
STAGES = ("capture_wait", *LATENCY_STAGES)
COLUMNS = ("index", "timestamp_s", "received_s", *(f"{s}_ms" for s in STAGES), "latency_ms")


class Interrupted(KeyboardInterrupt):
    """A stop signal ended the run: SIGINT (Ctrl-C), SIGTERM (systemd, docker stop) or SIGHUP (a closed
    terminal). A KeyboardInterrupt, so code that handles Ctrl-C handles all three; exit status 128 + signum."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)


# the signals that stop a run like Ctrl-C (SIGHUP does not exist on Windows)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


_received: list[int] = []  # stop signals received inside stop_signals(), by any handler here


def _raise_interrupted(signum, frame):
    if _received:  # already stopping: closing the files must not be broken off
        return
    _received.append(signum)
    raise Interrupted(signum)


_raise_interrupted.amf_edge_stop = True  # replaceable by the pipeline's own handler, like the defaults


def _replaceable(handler) -> bool:
    return (handler in (signal.SIG_DFL, signal.default_int_handler)
            or getattr(handler, "amf_edge_stop", False))


@contextlib.contextmanager
def stop_signals():
    """Within the block SIGTERM and SIGHUP stop the program as Ctrl-C does: they raise `Interrupted`, a
    KeyboardInterrupt (main thread only; handlers someone else installed are kept). A running Pipeline
    takes them over and defers them to the end of a frame. Once one stop signal has been received, by
    either, further ones are ignored until the end of the block: the source and the backend are closing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler):
            previous[signum] = signal.signal(signum, _raise_interrupted)
    _received.clear()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _received.clear()


class _Closed(Exception):
    """The queue was closed: the run is stopping."""


_END = object()  # end of stream, passed down the queues so every stage finishes its work first
_EMPTY = object()


class FrameQueue:
    """A bounded FIFO between two threads; with `drop_oldest` a full put discards the oldest item
    (counted in `dropped`) instead of waiting."""

    def __init__(self, size: int, drop_oldest: bool):
        self._items: deque = deque()
        self._size, self._drop_oldest = size, drop_oldest
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0

    def put(self, item) -> bool:
        """Queue an item; False if the queue was closed (the item was not taken)."""
        with self._cond:
            while not self._drop_oldest and len(self._items) >= self._size and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def put_end(self) -> None:
        """Queue the end-of-stream marker past the size limit: it must neither wait nor push out the
        newest frame (in a live run that is the one to show)."""
        with self._cond:
            if not self._closed:
                self._items.append(_END)
                self._cond.notify_all()

    def get(self, block: bool = True, timeout: float | None = None):
        """The oldest item; `_EMPTY` if not blocking (or after `timeout` s) and there is none; raises _Closed
        once closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            # Waiting in slices keeps a blocked main thread responsive to Ctrl-C on every platform.
            while block and not self._items and not self._closed:
                if deadline is None:
                    self._cond.wait(0.25)
                elif (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                else:
                    break
            if self._closed:
                raise _Closed
            if not self._items:
                return _EMPTY
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> list:
        """Stop the queue, wake every waiter and return what was still in it."""
        with self._cond:
            self._closed = True
            rest = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return rest


class _Item:
    """A frame on its way through the inference thread, with the perf_counter times of its steps."""

    __slots__ = ("frame", "capture_wait", "inputs", "picked", "prepared", "submitted", "fallback")

    def __init__(self, frame, capture_wait: float):
        self.frame, self.capture_wait = frame, capture_wait
        self.fallback = False  # its labels come from the RGB head (runtime/fallback.py)


class Pipeline:
    """Stream a source through a backend into sinks.

    Args:
        source: the frame source (not closed by the pipeline: its opener owns it).
        backend: the model (not closed by the pipeline).
        sinks: outputs; opened at the start of `run` and always closed at its end.
        policy: "live" or "lossless"; None = live for live sources, lossless otherwise.
        max_frames: stop after this many frames from the source.
        queue_size: frames each queue holds (default 1 for live, 4 for lossless).
        warmup: run one inference on blank inputs before capture starts (static-size models), so the
            first frame's latency is not the backend's lazy initialisation.
        echo: print the summary when the run ends.
        frame_log: how many of the last frames the per-frame log keeps (`RunReport.frames`, exact latency
            percentiles); the whole run is kept in sums and a histogram (amf_edge.runtime.framelog).
        depth_fallback: "auto" hands out the RGB head's labels while depth fails (runtime/fallback.py), "off"
            never does.
    """

    def __init__(self, source: Source, backend: Backend, sinks: Sequence[Sink] = (), *, policy: str | None = None,
                 max_frames: int | None = None, queue_size: int | None = None, warmup: bool = True, echo: bool = True,
                 frame_log: int = KEEP_FRAMES, depth_fallback: str = "auto"):
        policy = policy or ("live" if source.live else "lossless")
        if policy not in POLICIES:
            raise AmfEdgeError(f"unknown policy {policy!r}; "
                               "expected live (newest frame wins) or lossless (every frame)")
        if max_frames is not None and max_frames < 1:
            raise AmfEdgeError(f"max_frames must be at least 1, got {max_frames}")
        if queue_size is not None and queue_size < 1:
            raise AmfEdgeError(f"queue_size must be at least 1, got {queue_size}")
        if frame_log < 1:
            raise AmfEdgeError(f"frame_log must be at least 1, got {frame_log}")
        self.source, self.backend, self.sinks = source, backend, list(sinks)
        self.fallback = DepthFallback(depth_fallback, backend.contract)
        contract = backend.contract
        # a static model takes one size: other frames are resized to it (said once), unless the source says not to
        self._resize_to = None if contract.dynamic or not source.resize else (contract.height, contract.width)
        self._resize_said = False
        self.policy, self.max_frames, self.warmup, self.echo = policy, max_frames, warmup, echo
        size = queue_size or QUEUE_SIZES[policy]
        self._frames = FrameQueue(size, drop_oldest=policy == "live")
        self._results = FrameQueue(size, drop_oldest=policy == "live")
        self._log = FrameLog(COLUMNS, keep=frame_log)  # bounded: a run may last for days
        # sinks that take every frame's finished row as it comes (stats:// streams them to its file)
        self._row_sinks = [fn for sink in self.sinks if callable(fn := getattr(sink, "log_frame", None))]
        self._sink_s = [0.0] * len(self.sinks)
        self._recent: deque = deque(maxlen=32)  # (output time, latency) of the last frames, for live statistics
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._error: BaseException | None = None
        self._source_error: Exception | None = None  # raised once the frames before it are out
        self._end_reason = "end"
        self._shutdown_drops = {"capture": 0, "inference": 0, "output": 0, "queued": 0}
        self._signal: int | None = None  # the first stop signal received while running
        self._hurry = False  # a second one: stop waiting for the worker threads
        self._threads: list[threading.Thread] = []
        self._invalid_depth = {"frames": 0, "pixels": 0}  # depth values read as no measurement (amf_edge.sample)
        self.frames_in = self.frames_out = 0
        self._started = self._last_out = time.perf_counter()
        self._warmup_ms: float | None = None
        self.summary: dict | None = None

    # -- the calling thread -------------------------------------------------------------------------

    def run(self) -> dict:
        """Run until the stream ends or something stops it; return (and print) the summary. Runs once."""
        if self.summary is not None:
            raise RuntimeError("a Pipeline runs once: make a new one to stream again")
        contract = self.backend.contract
        context = SinkContext(labels=contract.labels, channel_order=contract.channel_order, policy=self.policy,
                              backend=self.backend.describe(),
                              frame_size=None if contract.dynamic else (contract.height, contract.width),
                              live_stats=self.live_stats)
        opened: list[Sink] = []
        stopped_by, self._started = None, time.perf_counter()
        threads: list[threading.Thread] = []
        with self._deferred_signals():
            try:
                for sink in self.sinks:
                    opened.append(sink)  # closed below even if its open fails half-way
                    sink.open(context)
                self._warmup_ms = self._warm_up() if self.warmup else None
                self._started = time.perf_counter()
                threads = self._threads = [
                    threading.Thread(target=self._guard, args=(fn,), name=f"amf-edge-{fn.__name__[1:]}", daemon=True)
                    for fn in (self._capture, self._infer)]
                for t in threads:
                    t.start()
                self._output()
                stopped_by = self._end_reason
                if self._source_error is not None:
                    self._fail(self._source_error)
                    stopped_by = "error"
            except StopStream:
                stopped_by = "quit"
            except BaseException as e:  # KeyboardInterrupt included: clean up, then re-raise
                self._fail(e)
                stopped_by = "interrupt" if isinstance(e, KeyboardInterrupt) else "error"
            finally:
                stuck = self._shutdown(threads)
                self.summary = self._summarize(stopped_by or "error", stuck)
                report = RunReport(self.summary, self._frame_columns())
                for sink in opened:
                    try:
                        sink.close(report)
                    except Exception as e:  # every sink gets closed; the first failure is the one reported
                        if self._error is None:
                            self._fail(e)
                            self.summary.update(stopped_by="error", error=_describe(e))
                if self.echo and threads:  # a run that never started has nothing to summarize: its error says it all
                    print(format_summary(self.summary), flush=True)
        if self._error is not None:
            raise self._error
        return self.summary

    @contextlib.contextmanager
    def _deferred_signals(self):
        """Stop signals (SIGINT, SIGTERM, SIGHUP) only set a flag from the start of the run to the end of its
        shutdown: the output thread acts on the first between frames (never inside one: a frame half-written
        to the sinks, in the video but not in the statistics, would break the outputs' agreement); a second
        one cuts the wait for the worker threads short. Nothing is raised inside a join, a lock or a sink's
        close. Only default handlers (and stop_signals') are replaced, on the main thread; all are restored."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            _received.append(signum)
            if self._signal is None:
                self._signal = signum
            else:
                self._hurry = True

        previous = {}
        for signum in STOP_SIGNALS:
            if _replaceable(signal.getsignal(signum)):
                previous[signum] = signal.signal(signum, handler)
        try:
            yield
        finally:
            for signum, old in previous.items():
                signal.signal(signum, old)

    def workers_alive(self) -> list[str]:
        """The worker threads still running after `run`: a second stop signal cut the wait for them short, or
        they hung (in a camera driver, in the backend). The source and backend they use must not be closed
        under them (ONNX Runtime aborts the process when its session is freed while it runs)."""
        return [t.name for t in self._threads if t.is_alive()]

    def stop(self) -> None:
        """Ask the run to end as if the stream ended (thread-safe); queued frames are still processed."""
        self._stop_requested.set()

    def _warm_up(self) -> float | None:
        c = self.backend.contract
        if c.dynamic:
            return None
        start = time.perf_counter()
        self.backend.infer({"rgb": np.zeros((1, c.height, c.width, 3), np.uint8),
                            "depth": np.zeros((1, c.height, c.width), np.float32)})
        return (time.perf_counter() - start) * 1e3

    def _output(self) -> None:
        sinks, sink_s = self.sinks, self._sink_s
        while True:
            if self._signal is not None:  # a stop signal: between frames
                raise Interrupted(self._signal)
            try:
                item = self._results.get(timeout=0.05)
            except _Closed:
                raise self._error or RuntimeError("the pipeline stopped without a reason") from None
            if item is _EMPTY:
                continue
            if item is _END:
                return
            start = time.perf_counter()
            out_before = self.frames_out
            try:
                t = start
                for i, sink in enumerate(sinks):
                    sink.write(item)
                    now = time.perf_counter()
                    sink_s[i] += now - t
                    t = now
                self._record(item, start, t)
            except BaseException:
                # An error (or a KeyboardInterrupt from elsewhere) can land anywhere, even after the last write:
                # count the frame once.
                if self.frames_out == out_before:
                    self._shutdown_drops["output"] += 1
                raise

    def _record(self, result: Result, sink_start: float, done: float) -> None:
        frame, log = result.frame, self._log
        stages = {**result.timing_ms, "sink": (done - sink_start) * 1e3}
        stages["queue"] += (sink_start - result.handed_s) * 1e3  # the results queue
        latency = frame.sync_ms + (done - frame.received_s) * 1e3
        row = (frame.index, frame.timestamp_s, frame.received_s - self._started, *(stages[s] for s in STAGES), latency)
        log.append(row)
        if self._row_sinks:
            named = _row(row)
            for log_frame in self._row_sinks:
                log_frame(named)
        with self._lock:
            self.frames_out += 1
            self._last_out = done
            self._recent.append((done, latency))

    def live_stats(self) -> dict:
        """Numbers so far, for the window's status line and the http preview (any thread)."""
        with self._lock:
            recent = list(self._recent)
            out = self.frames_out
        span = recent[-1][0] - recent[0][0] if recent else 0.0
        fps = (len(recent) - 1) / span if span > 0 else 0.0
        latencies = sorted(r[1] for r in recent)
        return {
            "policy": self.policy,
            "frames_in": self.frames_in,
            "frames_out": out,
            "dropped": self._frames.dropped + self._results.dropped,
            "fps": round(fps, 2),
            "latency_ms": round(latencies[len(latencies) // 2], 2) if latencies else None,
            "latency_max_ms": round(latencies[-1], 2) if latencies else None,
            "elapsed_s": round(time.perf_counter() - self._started, 2),
        }

    # -- worker threads ------------------------------------------------------------------------------

    def _guard(self, stage) -> None:
        try:
            stage()
        except BaseException as e:
            self._fail(e)

    def _fail(self, error: BaseException) -> None:
        """Record the first error and stop every stage (any thread)."""
        with self._lock:
            if self._error is None:
                self._error = error
        self._drop_queued()

    def _drop_queued(self) -> None:
        for q in (self._frames, self._results):
            rest = q.close()
            with self._lock:
                self._shutdown_drops["queued"] += sum(item is not _END for item in rest)

    def _capture(self) -> None:
        frames = iter(self.source)
        try:
            while self._error is None:
                if self._stop_requested.is_set():
                    self._end_reason = "stopped"
                    break
                start = time.perf_counter()
                try:
                    frame = next(frames)
                except StopIteration:
                    break
                except Exception as e:
                    # A source that fails (a damaged recording, an unplugged camera) ends the stream like its
                    # end: the frames already queued are still segmented and written, then the run fails.
                    # Failing at once used to throw those good frames away.
                    self._source_error = e
                    break
                self.frames_in += 1
                if not self._frames.put(_Item(frame, (time.perf_counter() - start) * 1e3)):
                    self._shutdown_drops["capture"] += 1
                    return
                if self.max_frames is not None and self.frames_in >= self.max_frames:
                    self._end_reason = "max-frames"
                    break
            self._frames.put_end()
        finally:
            close = getattr(frames, "close", None)  # a generator source releases what it holds now, not at GC
            if close is not None:
                close()

    def _infer(self) -> None:
        contract, backend, q = self.backend.contract, self.backend, self._frames
        in_flight: _Item | None = None  # submitted, not yet collected
        current: _Item | None = None  # taken from the queue, not yet submitted
        try:
            while True:
                # With a frame in flight, look for the next one without waiting: prepare it while the
                # backend computes (asynchronous backends overlap), but never hold a finished result
                # back waiting for a frame that has not arrived.
                item = q.get(block=in_flight is None)
                if item is _EMPTY or item is _END:
                    if in_flight is not None:
                        done, in_flight = in_flight, None
                        self._emit(done)
                    if item is _END:
                        self._results.put_end()
                        return
                    continue
                current = item
                item.picked = time.perf_counter()
                if self._resize_to is not None and item.frame.sample.size != self._resize_to:
                    item.frame = self._resized(item.frame)
                item.inputs = contract.inputs(item.frame.sample)  # invalid depth (NaN, inf, ...) → 0 there
                item.fallback = self.fallback.update(item.inputs["depth"])
                invalid = item.frame.sample.invalid_depth_pixels()  # 0 at no cost for sane depth units
                if invalid:
                    self._invalid_depth["frames"] += 1
                    self._invalid_depth["pixels"] += invalid
                item.prepared = time.perf_counter()
                if in_flight is not None:
                    done, in_flight = in_flight, None
                    self._emit(done)
                item.submitted = time.perf_counter()
                backend.submit(item.inputs)
                item.inputs = None
                in_flight, current = item, None
        except _Closed:
            pass
        except BaseException as e:
            self._fail(e)  # recorded before the clean-up below can raise anything else
        finally:
            self._shutdown_drops["inference"] += (current is not None) + (in_flight is not None)
            if in_flight is not None:
                try:
                    backend.collect()  # stopping early: leave the backend with nothing in flight
                except Exception as e:
                    self._fail(e)

    def _resized(self, frame: Frame) -> Frame:
        """The frame at the model's size (the preprocessing contract's resize: colour bicubic, depth nearest), so
        sinks draw the labels over the picture the model saw."""
        if not self._resize_said:
            self._resize_said = True
            (h, w), (mh, mw) = frame.sample.size, self._resize_to
            print(f"note: the frames are {h}×{w} and the model takes {mh}×{mw} (H×W): resizing them (add ?resize=0 to "
                  "the source to make this an error instead)", flush=True)
        return dataclasses.replace(frame, sample=resize_sample(frame.sample, *self._resize_to))

    def _emit(self, item: _Item) -> None:
        try:
            outputs = self.backend.collect()
        except BaseException:
            self._shutdown_drops["inference"] += 1
            raise
        collected = time.perf_counter()
        # Submit to collect is the frame's time in the backend; the copies in it, where a device measured
        # them, are stages of their own.
        device = self.backend.device_timing_ms() or {}
        upload, download = device.get("upload", 0.0), device.get("download", 0.0)
        in_backend = (collected - item.submitted) * 1e3
        frame = item.frame
        outputs = {name: value[0] for name, value in outputs.items()}  # views: no copy
        if item.fallback:
            outputs = self.fallback.apply(outputs)
        handed = time.perf_counter()
        timing = {
            "capture_wait": item.capture_wait,
            "sync": frame.sync_ms,
            # the frames queue, then waiting while the thread hands on the frame before it
            "queue": ((item.picked - frame.received_s) + (item.submitted - item.prepared)) * 1e3,
            "preprocess": (item.prepared - item.picked) * 1e3,
            "upload": upload,
            "inference": max(0.0, in_backend - upload - download),
            "download": download,
            "postprocess": (handed - collected) * 1e3,
        }
        result = Result(frame=frame, outputs=outputs, timing_ms=timing, handed_s=handed,
                        notes=(FALLBACK_NOTE,) if item.fallback else ())
        if not self._results.put(result):
            self._shutdown_drops["inference"] += 1

    # -- the end ---------------------------------------------------------------------------------------

    def _shutdown(self, threads: list[threading.Thread]) -> list[str]:
        self._drop_queued()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for t in threads:
            # in slices: a second stop signal ends the wait (the sinks are closed all the same)
            while t.is_alive() and not self._hurry and (left := deadline - time.monotonic()) > 0:
                t.join(min(left, 0.05))
        self._drop_queued()  # anything a stage put just before it saw the queues close
        return [t.name for t in threads if t.is_alive()]

    def _frame_columns(self) -> dict[str, list]:
        """The last frames' log (all of a run of up to `frame_log` frames), column → values."""
        columns = {}
        for name, values in self._log.recent().items():
            if name == "index":
                columns[name] = [int(v) for v in values]
            else:
                columns[name] = [round(float(v), _digits(name)) for v in values]
        return columns

    def _latency_summary(self) -> dict:
        """Latency percentiles and how they were computed: exact while the log holds every frame, else from
        the whole run's histogram (within 0.5 %) with the exact ones of the kept frames beside them."""
        log = self._log
        if log.complete:
            return {"latency_ms": _percentiles(log.recent()["latency_ms"]), "latency_basis": "exact"}
        hist = log.latency
        p50, p90, p99 = hist.percentiles([50, 90, 99])
        return {"latency_ms": {"p50": round(p50, 2), "p90": round(p90, 2), "p99": round(p99, 2),
                               "max": round(hist.max, 2)},
                "latency_basis": f"histogram of all {log.count} frames (bins 1 % wide: within 0.5 %)",
                f"latency_last_{log.keep}_ms": _percentiles(log.recent()["latency_ms"])}

    def _summarize(self, stopped_by: str, stuck: list[str]) -> dict:
        frames_in = self.frames_in  # once: a thread that did not stop may still count one
        source_stats = self.source.stats()
        dropped = {"capture": self._frames.dropped, "output": self._results.dropped,
                   "shutdown": sum(self._shutdown_drops.values()),
                   "source": int(source_stats.get("dropped") or 0)}  # by its reader, before frames_in
        if stuck:  # frames still held by a thread that did not stop (it counts them later, too late): shutdown drops
            dropped["shutdown"] = max(dropped["shutdown"],
                                      frames_in - self.frames_out - dropped["capture"] - dropped["output"])
        log = self._log
        n = log.count
        # the backend alone: submit to collect, copies included
        inference = sum(log.total(f"{s}_ms") for s in ("upload", "inference", "download")) / n if n else 0.0
        # From the start of capture to the last output: the rate the sinks saw, start-up included.
        wall = self._last_out - self._started if n else 0.0
        summary = {
            "policy": self.policy,
            "stopped_by": stopped_by,
            "error": _describe(self._error) if self._error is not None else None,
            "frames_in": frames_in,
            "frames_out": self.frames_out,
            "dropped": dropped,
            "dropped_total": sum(dropped.values()),
            "wall_s": round(wall, 4),
            "fps": round(n / wall, 2) if n and wall > 0 else None,
            **self._latency_summary(),
            "stages_ms": {stage: _mean(log.mean(f"{stage}_ms")) for stage in STAGES},
            "inference_fps": round(1e3 / inference, 2) if inference else None,
            "warmup_ms": round(self._warmup_ms, 2) if self._warmup_ms is not None else None,
            # frames with depth values no sensor gives (NaN, inf, negative, > MAX_DEPTH_M), and how many
            # pixels: fed to the model as 0, no measurement
            "invalid_depth": dict(self._invalid_depth),
            "depth_fallback": self.fallback.stats(),
            "backend": self.backend.describe(),
            "source": {"uri": self.source.uri, **source_stats},
            "sinks": {sink.uri: {**sink.stats(), "mean_ms": round(self._sink_s[i] * 1e3 / n, 3) if n else None}
                      for i, sink in enumerate(self.sinks)},
        }
        if stuck:
            summary["stuck_threads"] = stuck
            if self._hurry:
                summary["second_signal"] = True  # not waited for: a second stop signal
        return summary


def _percentiles(values: np.ndarray) -> dict:
    if not len(values):
        return {"p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50": round(float(p50), 2), "p90": round(float(p90), 2), "p99": round(float(p99), 2),
            "max": round(float(values.max()), 2)}


def _mean(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def _digits(column: str) -> int:
    return 6 if column.endswith("_s") else 3  # seconds to the µs, milliseconds to the µs


def _row(values: tuple) -> dict:
    """One frame's log row by column name, rounded as RunReport.frames is."""
    return {name: int(v) if name == "index" else round(float(v), _digits(name)) for name, v in zip(COLUMNS, values)}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def format_summary(s: dict) -> str:
    """The summary as a few lines for the terminal."""
    d = s["dropped"]
    backend = s["backend"]
    where = backend.get("provider") or backend.get("device") or ""
    fps = f"{s['fps']:.1f} FPS" if s["fps"] is not None else "FPS n/a"
    lines = [
        f"{s['frames_in']} frames in, {s['frames_out']} out, {s['dropped_total']} dropped "
        f"(capture {d['capture']}, output {d['output']}, shutdown {d['shutdown']}"
        + (f", in the source's reader {d['source']}" if d.get("source") else "")
        + f") in {s['wall_s']:.2f} s: {fps} "
        f"[{s['policy']}, {backend.get('backend', '?')} {where}, stopped by {s['stopped_by']}"
        + (f": {s['error'].split(':')[0]}]" if s["error"] else "]"),
    ]
    lat = s["latency_ms"]
    if lat["p50"] is not None:
        lines.append(f"latency ms (capture → output): p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  "
                     f"p99 {lat['p99']:.1f}  max {lat['max']:.1f}")
        st = s["stages_ms"]
        alone = f" ({s['inference_fps']:.1f} FPS alone)" if s["inference_fps"] else ""
        copies = st["upload"] + st["download"]
        lines.append(f"stage ms (mean): capture wait {st['capture_wait']:.1f}  "
                     + (f"sync {st['sync']:.1f}  " if st["sync"] else "")
                     + f"queues {st['queue']:.1f}  preprocess {st['preprocess']:.1f}  "
                     + (f"copies {copies:.1f}  " if copies else "")
                     + f"inference {st['inference']:.1f}{alone}  postprocess {st['postprocess']:.1f}  "
                     f"sinks {st['sink']:.1f}")
    bad = s.get("invalid_depth") or {}
    if bad.get("frames"):
        lines.append(f"warning: {bad['frames']} frames had invalid depth ({bad['pixels']} pixels NaN, infinite, "
                     f"negative or beyond {MAX_DEPTH_M:g} m, e.g. a wrong depth unit): read as no measurement")
    fallback = describe_fallback(s.get("depth_fallback") or {})
    if fallback:
        lines.append(fallback)
    damaged = (s.get("source") or {}).get("damaged")
    if damaged:  # a realtime replay of a damaged recording ends normally: say what it could not play
        lines.append(f"warning: the recording is {damaged['what']}: only what came before the damage was played")
    if s.get("stuck_threads"):
        when = "before the second signal" if s.get("second_signal") else f"within {JOIN_TIMEOUT_S:.0f} s"
        lines.append(f"warning: {', '.join(s['stuck_threads'])} did not stop {when}")
    return "\n".join(lines)
