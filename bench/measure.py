"""Measuring models: backend-only latency, and end to end through the real pipeline, the models taking turns.

Comparisons on a shared, noisy machine hold only when the models are measured under the same conditions,
so they are interleaved: every model warms up first (`warmup_s` of inferences, as trtexec's --warmUp), then
in each of `rounds` rounds every model runs its share of the iterations, one after the other. A turn
starts with one untimed inference: the model before it has just evicted this one's weights from the caches.

Backend only: `backend.infer` on inputs prepared beforehand (ModelContract.inputs of the replayed frames),
on a worker thread like the pipeline's inference stage (PyTorch's and OpenMP's thread pools are per calling
thread, so the main thread would time a different machine), timed with the host's wall clock; backends on a
device also report each inference's upload, compute and download from device events, and latency from the first
upload to the last download (trtexec's Latency).
End to end: `amf_edge.runtime.pipeline.Pipeline` with the frames replayed from memory (amf_edge.bench.replay), the stage
times of every frame kept: paced at the source's rate with the live policy by default, as a camera runs, or in a
burst (`rate` None: saturation), when the latency is mostly time in the queues.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from amf_edge.bench.replay import ReplaySource, source_rate
from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.backends import backend_for, open_backend
from amf_edge.runtime.backends.base import Backend
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import Pipeline
from amf_edge.runtime.sinks import sink_from_uri
from amf_edge.runtime.sinks.base import RunReport, Sink

DEVICE_KEYS = ("upload", "compute", "download", "latency")
GRAPH_SUFFIX = " +graph"
DEFAULT_RATE_FPS = 30.0  # a camera's, for sources whose frames carry no usable timestamps


@dataclass
class Subject:
    """One model under test and everything measured on it."""

    name: str
    path: Path
    backend: Backend
    cuda_graph: bool = False
    load_s: float = 0.0
    rss_delta_mib: float | None = None
    inputs: list[dict] = field(default_factory=list, repr=False)
    warmup_s: float = 0.0
    warmup_iterations: int = 0
    rss_mib: float | None = None  # the process, after this model's warm-up
    wall_ms: list[float] = field(default_factory=list)
    device_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in DEVICE_KEYS})
    runs: list[RunReport] = field(default_factory=list)  # one per end-to-end turn
    # per turn, the perf_counter time each frame that came out was captured (handed out by the source), in the
    # order of runs[i].frames: the timeline's real time axis
    captures: list[list[float]] = field(default_factory=list)

    @property
    def format(self) -> str:
        return {"ort": "onnx", "trt": "engine", "torch": "checkpoint"}[backend_for(self.path)]


def rss_mib() -> float | None:
    """This process's resident memory now (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def load_subjects(paths: Sequence[Path], *, device: str = "auto", threads: int | None = None,
                  cuda_graph: str = "both") -> list[Subject]:
    """Open every model; TensorRT engines once per CUDA-graph setting asked for ("off", "on", "both")."""
    if cuda_graph not in ("off", "on", "both"):
        raise AmfEdgeError(f"cuda_graph must be off, on or both, got {cuda_graph!r}")
    names = _names(paths)
    subjects: list[Subject] = []
    try:
        for path, name in zip(paths, names):
            graphs = {"off": [False], "on": [True], "both": [False, True]}[cuda_graph] if backend_for(path) == "trt" \
                else [False]
            for graph in graphs:
                before, start = rss_mib(), time.perf_counter()
                backend = open_backend(path, device=device, threads=threads, cuda_graph=graph)
                subject = Subject(name + (GRAPH_SUFFIX if graph else ""), Path(path), backend, graph,
                                  load_s=round(time.perf_counter() - start, 3))
                after = rss_mib()
                subject.rss_delta_mib = round(after - before, 1) if before is not None and after is not None else None
                subjects.append(subject)
    except BaseException:
        close_subjects(subjects)
        raise
    return subjects


def close_subjects(subjects: Sequence[Subject]) -> None:
    for s in subjects:
        with contextlib.suppress(Exception):
            s.backend.close()


def _names(paths: Sequence[Path]) -> list[str]:
    """Short unique labels: the file names, or more of the path where two files share a name."""
    paths = [Path(p) for p in paths]
    if len({str(p.resolve()) for p in paths}) != len(paths):
        raise AmfEdgeError("a model is listed twice; list each model once (TensorRT engines are measured with and "
                           "without CUDA graphs by themselves)")
    depth = 1
    while True:
        names = ["/".join(p.resolve().parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
        depth += 1


def input_size(subjects: Sequence[Subject]) -> tuple[int, int] | None:
    """The one input size of the models with a fixed size (None when all take any size)."""
    sizes = {(s.backend.contract.height, s.backend.contract.width): s.name
             for s in subjects if not s.backend.contract.dynamic}
    if len(sizes) > 1:
        listed = ", ".join(f"{h}×{w} ({name})" for (h, w), name in sizes.items())
        raise AmfEdgeError(f"the models take different input sizes: {listed}; a comparison needs one size: "
                           "bench models of each size in a run of their own")
    return next(iter(sizes), None)


def prepare_inputs(subjects: Sequence[Subject], frames: Sequence[Frame]) -> None:
    for s in subjects:
        s.inputs = [s.backend.contract.inputs(f.sample) for f in frames]


def _infer(subject: Subject, i: int) -> float:
    start = time.perf_counter()
    subject.backend.infer(subject.inputs[i % len(subject.inputs)])
    return (time.perf_counter() - start) * 1e3


def on_worker(work: Callable[[threading.Event], None], name: str = "amf-edge-bench-infer") -> None:
    """`work(stop)` on a new thread, as the pipeline's inference stage runs the backend on a thread of its own
    (PyTorch's and OpenMP's thread pools are per calling thread, so inferences on the main thread would be
    timed on a different machine than the pipeline's). Waits for it; its exception is raised here. On Ctrl-C
    `stop` is set, the inference under way finishes, and KeyboardInterrupt is raised."""
    stop, failure = threading.Event(), []

    def target() -> None:
        try:
            work(stop)
        except BaseException as e:  # handed to the caller's thread
            failure.append(e)

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)  # a timed join: Ctrl-C reaches the main thread between the waits
    except KeyboardInterrupt:
        stop.set()
        worker.join()
        raise
    if failure:
        raise failure[0]


def warm_up(subject: Subject, seconds: float) -> None:
    """Inferences until `seconds` have passed (at least one): lazy initialisation, allocator growth, clocks."""

    def work(stop: threading.Event) -> None:
        start, n = time.perf_counter(), 0
        while True:
            _infer(subject, n)
            n += 1
            if time.perf_counter() - start >= seconds or stop.is_set():
                break
        subject.warmup_s, subject.warmup_iterations = round(time.perf_counter() - start, 3), n

    on_worker(work)
    subject.rss_mib = rss_mib()


def time_backend(subject: Subject, iterations: int) -> None:
    """One turn on a worker thread: one untimed inference, then `iterations` timed ones."""

    def work(stop: threading.Event) -> None:
        _infer(subject, len(subject.wall_ms))
        for _ in range(iterations):
            if stop.is_set():
                return
            subject.wall_ms.append(_infer(subject, len(subject.wall_ms)))
            device = subject.backend.device_timing_ms()
            if device is not None:
                for key in DEVICE_KEYS:
                    subject.device_ms[key].append(device[key])

    on_worker(work)


class _Collector(Sink):
    """Keeps the run's per-frame log, which the pipeline hands every sink at close. With `limit`, the run is
    measured over its first `limit` results: `on_limit` is called when they are out, and the report is cut to
    them (see `window`)."""

    scheme = "collect"

    def __init__(self, limit: int | None = None, on_limit: Callable[[], None] = lambda: None):
        super().__init__("collect://")
        self.limit, self.on_limit = limit, on_limit
        self.report: RunReport | None = None
        self._opened = self._ended = 0.0

    def open(self, context) -> None:
        super().open(context)
        self._opened = time.perf_counter()

    def write(self, result) -> None:
        self.written += 1
        if self.written == self.limit:
            self._ended = time.perf_counter()
            self.on_limit()

    def close(self, report: RunReport | None = None) -> None:
        self.report = report
        if report is not None and self.limit is not None and self.written >= self.limit:
            self.report = window(report, self.limit, self._ended - self._opened)


def window(report: RunReport, count: int, wall_s: float) -> RunReport:
    """`report` cut to its first `count` frames out, `wall_s` after its start. A paced turn is measured while
    its camera still streams: the frames after them (the one waiting when the replay stopped waited a whole
    inference for a frame that in a live run would have replaced it) are not what a live user sees."""
    frames = {name: values[:count] for name, values in report.frames.items()}
    index = frames.get("index", [])
    # dropped between the first and the last frame kept: the source's frames that did not come out
    dropped = int(index[-1] - index[0] + 1 - len(index)) if len(index) else 0
    summary = {**report.summary, "frames_out": len(index), "wall_s": round(wall_s, 4), "dropped_total": dropped}
    return RunReport(summary=summary, frames=frames)


def time_pipeline(subject: Subject, frames: Sequence[Frame], count: int, *, start: int, policy: str,
                  rate: float | None, sinks: Sequence[str]) -> None:
    """One end-to-end turn of `count` frames out of the real pipeline, paced at `rate` frames per second (None:
    a burst of `count` frames, as fast as the pipeline takes them); sinks are opened anew each turn. A paced
    source streams until the `count`-th result is out, as a camera would: ending it earlier would leave its
    last frame waiting a whole inference, a queue no live run has."""
    on_worker(lambda stop: _infer(subject, start))  # untimed: the caches, on a thread like the pipeline's
    source = ReplaySource(frames, None if rate else count, start=start, rate=rate)
    collector = _Collector(count, source.stop) if rate else _Collector()
    # frame_log: the pipeline's log is bounded (the last frames of a long run), and the timeline wants every
    # frame of the turn (a paced one adds at most the frames in flight when its source stops)
    pipeline = Pipeline(source, subject.backend, [*(sink_from_uri(u) for u in sinks), collector], policy=policy,
                        warmup=False, echo=False, frame_log=count + 8)
    pipeline.run()
    subject.runs.append(collector.report)
    if collector.report is not None:
        subject.captures.append([source.captured[int(i)] for i in collector.report.frames.get("index", [])])


def shares(total: int, rounds: int) -> list[int]:
    """`total` iterations split over `rounds` turns as evenly as possible (earlier turns take the rest)."""
    base, rest = divmod(total, rounds)
    return [base + (i < rest) for i in range(rounds) if base + (i < rest) > 0]


def interleave(subjects: Sequence[Subject], total: int, rounds: int, run: Callable[[Subject, int, int], None],
               progress: Callable[[str], None] = print, what: str = "") -> None:
    """Round-robin: in every round each subject runs its share; `run(subject, count, done_so_far)`."""
    turns = shares(total, rounds)
    done = 0
    for r, count in enumerate(turns, 1):
        for s in subjects:
            run(s, count, done)
        done += count
        progress(f"{what} round {r}/{len(turns)}: {done}/{total} per model")


def check_settings(iters: int, rounds: int, warmup_s: float, frames: int, rate: float | None) -> None:
    """`rate` None: the source's own; 0: saturation (a burst); otherwise frames per second."""
    if iters < 1:
        raise AmfEdgeError(f"--iters must be at least 1, got {iters}")
    if rounds < 1:
        raise AmfEdgeError(f"--rounds must be at least 1, got {rounds}")
    if not (math.isfinite(warmup_s) and warmup_s >= 0):
        raise AmfEdgeError(f"--warmup-s must be a number of seconds >= 0, got {warmup_s}")
    if frames < 1:
        raise AmfEdgeError(f"--frames must be at least 1, got {frames}")
    if rate is not None and not (math.isfinite(rate) and rate >= 0):
        raise AmfEdgeError(f"--rate must be frames per second > 0, or 0 for saturation (a burst), got {rate}")


def pacing(frames: Sequence[Frame], rate: float | None, policy: str | None) -> tuple[float | None, str, str]:
    """(rate, where it came from, policy) of the end-to-end runs. `rate` as given (None: the source's own, 0:
    saturation); the rate is None in saturation. The policy, unless given, is a camera's when paced (live:
    the newest frame wins) and lossless in saturation (every frame, back-pressure: the pipeline's maximum)."""
    if rate == 0:
        return None, "saturation", policy or "lossless"
    if rate is not None:
        return rate, "option", policy or "live"
    measured = source_rate(frames)
    if measured is not None:
        return measured, "source", policy or "live"
    return DEFAULT_RATE_FPS, "default", policy or "live"
