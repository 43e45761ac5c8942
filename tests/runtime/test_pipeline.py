"""The streaming pipeline: policies, ordering, drops, shutdown on errors and Ctrl-C, and its summary.

Fakes stand in for the source, the model and the outputs (numpy only, no torch, no onnxruntime), so
timing and failures can be placed exactly; tests/test_run_cli.py runs the real model end to end.
"""

from __future__ import annotations

import _thread
import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from video_files import video_frames

from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.labels import LabelSet
from amf_edge.runtime.backends.base import Backend
from amf_edge.runtime.frames import Frame
from amf_edge.runtime.pipeline import (
    LATENCY_STAGES,
    FrameQueue,
    Interrupted,
    Pipeline,
    _Closed,
    format_summary,
    stop_signals,
)
from amf_edge.runtime.sinks import Sink, StopStream, sink_from_uri
from amf_edge.runtime.sources.base import Source
from amf_edge.sample import RGBDSample

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")
H, W = 24, 32
LABELS = LabelSet.generic(5)


class FakeSource(Source):
    """n frames whose pixels encode their number; optionally slow, live, failing or interrupting."""

    def __init__(self, n, *, delay=0.0, live=False, fail_at=None, interrupt_at=None, size=(H, W)):
        super().__init__(f"fake://?n={n}")
        self.n, self.delay, self.live, self.size = n, delay, live, size
        self.fail_at, self.interrupt_at = fail_at, interrupt_at
        self.closed_iterator = False

    def __iter__(self):
        try:
            for i in range(self.n):
                if self.delay:
                    time.sleep(self.delay)
                if i == self.fail_at:
                    raise OSError("camera unplugged")
                if i == self.interrupt_at:
                    _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread
                rgb = np.full((*self.size, 3), i % 256, np.uint8)
                sample = RGBDSample(rgb, np.full(self.size, 1000, np.uint16), 0.001)
                yield Frame(sample, i, i / 30, time.perf_counter())
        finally:
            self.closed_iterator = True


class FakeBackend(Backend):
    """Labels = the frame number mod 5; `delay` seconds per inference; fails at call `fail_at`.
    `asynchronous`: submit returns at once and collect waits, like a GPU backend."""

    name = "fake"

    def __init__(self, *, delay=0.0, fail_at=None, asynchronous=False, size=(H, W)):
        super().__init__(ModelContract(height=size[0], width=size[1], channel_order="RGB", outputs=("labels",),
                                       labels=LABELS))
        self.delay, self.fail_at, self.asynchronous = delay, fail_at, asynchronous
        self.calls, self.events, self._pending = 0, [], None

    def submit(self, inputs):
        assert self._pending is None, "two inferences in flight"
        value = int(inputs["rgb"][0, 0, 0, 0])
        self.events.append(("submit", value))
        self.calls += 1
        if self.calls - 1 == self.fail_at:
            raise RuntimeError("boom in the backend")
        if not self.asynchronous and self.delay:
            time.sleep(self.delay)
        self._pending = (time.perf_counter(), np.full((1, *inputs["rgb"].shape[1:3]), value % 5, np.uint8))

    def collect(self):
        started, labels = self._pending
        if self.asynchronous and self.delay:
            time.sleep(max(0.0, started + self.delay - time.perf_counter()))
        self._pending = None
        self.events.append(("collect", int(labels[0, 0, 0])))
        return {"labels": labels}


class RecordingSink(Sink):
    scheme = "record"

    def __init__(self, *, delay=0.0, fail_at=None, raise_at=None, exc=None):
        super().__init__("record://")
        self.delay, self.fail_at, self.raise_at, self.exc = delay, fail_at, raise_at, exc
        self.indices, self.labels, self.report, self.closed, self.opened = [], [], None, 0, False
        self.sizes = []

    def open(self, context):
        super().open(context)
        self.opened = True

    def write(self, result):
        if len(self.indices) == self.raise_at:
            raise self.exc
        if len(self.indices) == self.fail_at:
            raise ValueError("boom in a sink")
        if self.delay:
            time.sleep(self.delay)
        self.indices.append(result.frame.index)
        self.labels.append(int(result.labels[0, 0]))
        self.sizes.append(result.frame.sample.size)
        self.written += 1

    def close(self, report=None):
        self.closed += 1
        self.report = report


def pipeline_threads():
    return [t for t in threading.enumerate() if t.name.startswith("amf-edge-")]


def check_accounting(summary):
    d = summary["dropped"]
    assert summary["frames_in"] == summary["frames_out"] + d["capture"] + d["output"] + d["shutdown"]
    assert summary["dropped_total"] == sum(d.values())



def test_lossless_processes_every_frame_in_order(capsys):
    sink = RecordingSink(delay=0.002)
    summary = Pipeline(FakeSource(30), FakeBackend(delay=0.001), [sink]).run()
    assert sink.indices == list(range(30)) and sink.labels == [i % 5 for i in range(30)]
    assert summary["policy"] == "lossless" and summary["stopped_by"] == "end" and summary["error"] is None
    assert summary["frames_in"] == summary["frames_out"] == 30 and summary["dropped_total"] == 0
    lat = summary["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert summary["fps"] > 0 and summary["inference_fps"] > 0 and summary["warmup_ms"] is not None
    assert summary["sinks"]["record://"]["written"] == 30 and summary["sinks"]["record://"]["mean_ms"] >= 2
    # the per-frame log the sinks get at close matches the summary
    frames = sink.report.frames
    assert frames["index"] == list(range(30)) and len(frames["latency_ms"]) == 30
    assert max(frames["latency_ms"]) == pytest.approx(lat["max"], abs=0.01)
    for i in range(30):  # latency = the sum of its stages, each measured on its own
        parts = sum(frames[f"{s}_ms"][i] for s in LATENCY_STAGES)
        assert parts == pytest.approx(frames["latency_ms"][i], abs=0.01)
        assert frames["inference_ms"][i] >= 1.0 and frames["sink_ms"][i] >= 2.0  # the fakes' sleeps land in their stage
        assert frames["upload_ms"][i] == frames["download_ms"][i] == frames["sync_ms"][i] == 0.0
    assert sink.closed == 1 and sink.report.summary is summary and not pipeline_threads()
    out = capsys.readouterr().out
    assert "30 frames in, 30 out, 0 dropped" in out and "latency ms (capture → output): p50" in out


def test_live_source_defaults_to_live_and_drops_instead_of_queueing():
    """A fast camera and a slow model: frames are dropped (counted), latency stays about one inference."""
    source, backend, sink = FakeSource(60, delay=0.002, live=True), FakeBackend(delay=0.03), RecordingSink()
    summary = Pipeline(source, backend, [sink], echo=False).run()
    assert summary["policy"] == "live"
    check_accounting(summary)
    assert summary["dropped"]["capture"] > 10 and summary["frames_out"] < 50
    assert sink.indices == sorted(sink.indices) and len(set(sink.indices)) == len(sink.indices)
    assert sink.indices[-1] == 59  # the newest frame wins, the last one included
    # a 1-frame queue: a frame waits for at most the inference in progress, then its own
    assert summary["latency_ms"]["p50"] < 3 * 30 + 40
    # lossless on the same input keeps everything and lets latency grow with the queue
    lossless = Pipeline(FakeSource(30, delay=0.002), FakeBackend(delay=0.03), [RecordingSink()], echo=False).run()
    assert lossless["frames_out"] == 30 and lossless["latency_ms"]["max"] > summary["latency_ms"]["p50"]


def test_a_slow_sink_drops_at_the_output_in_live_mode_and_never_stalls_capture():
    sink = RecordingSink(delay=0.03)
    summary = Pipeline(FakeSource(40, delay=0.002), FakeBackend(), [sink], policy="live", echo=False).run()
    check_accounting(summary)
    assert summary["dropped"]["output"] > 0 and summary["frames_out"] < 40
    assert sink.indices == sorted(sink.indices) and sink.indices[-1] == 39
    # capture ran at the source's pace: it never waited on the sink
    assert summary["stages_ms"]["capture_wait"] < 15


class LoggingContract(ModelContract):
    """Logs when the pipeline prepares a frame's inputs (into the backend's event list)."""

    def inputs(self, sample):
        self.metadata["events"].append(("prepare", int(sample.rgb[0, 0, 0])))
        return super().inputs(sample)


def test_the_next_frame_is_prepared_while_the_backend_computes():
    backend = FakeBackend(delay=0.01, asynchronous=True)
    backend.contract = LoggingContract(H, W, "RGB", ("labels",), LABELS, metadata={"events": backend.events})
    Pipeline(FakeSource(6), backend, [RecordingSink()], echo=False, warmup=False).run()
    events = backend.events
    assert [e for e in events if e[0] == "submit"] == [("submit", i) for i in range(6)]
    assert [e for e in events if e[0] == "collect"] == [("collect", i % 5) for i in range(6)]
    # frames are waiting (the source is instant): frame i+1 is prepared between submit(i) and collect(i)
    overlapped = [i for i in range(5) if events.index(("submit", i)) < events.index(("prepare", i + 1))
                  < events.index(("collect", i % 5), events.index(("submit", i)))]
    assert overlapped, events


@pytest.mark.parametrize("where", ["backend", "sink", "source"])
def test_an_exception_anywhere_shuts_down_cleanly_and_is_re_raised(tmp_path, where, capsys):
    video = tmp_path / "out.mp4"
    stats = tmp_path / "stats.json"
    recorder = RecordingSink(fail_at=5 if where == "sink" else None)
    sinks = [sink_from_uri(f"video://{video}"), recorder, sink_from_uri(f"stats://{stats}")]
    backend = FakeBackend(fail_at=7 if where == "backend" else None)
    # the source paces the frames so that the first ones are out before anything fails
    source = FakeSource(40, delay=0.005, fail_at=9 if where == "source" else None)
    pipeline = Pipeline(source, backend, sinks, warmup=False)
    expected = {"backend": (RuntimeError, "boom in the backend"), "sink": (ValueError, "boom in a sink"),
                "source": (OSError, "camera unplugged")}[where]
    with pytest.raises(expected[0], match=expected[1]):
        pipeline.run()
    summary = pipeline.summary
    assert summary["stopped_by"] == "error" and expected[1] in summary["error"]
    check_accounting(summary)
    assert 0 < summary["frames_out"] < 40
    assert recorder.closed == 1 and not pipeline_threads() and source.closed_iterator
    # the video is finalized: it plays, with every frame it was given (the failing sink comes after it)
    assert video_frames(video) == summary["sinks"][f"video://{video}"]["written"] >= summary["frames_out"]
    document = json.loads(stats.read_text())
    assert document["summary"]["stopped_by"] == "error" and len(document["frames"]) == summary["frames_out"]
    assert "stopped by error: " in capsys.readouterr().out


def test_ctrl_c_in_the_main_thread_stops_cleanly_and_re_raises(tmp_path):
    video = tmp_path / "out.mp4"
    # the source raises KeyboardInterrupt in the main thread at frame 8 and then keeps streaming slowly,
    # so the interrupt lands while the pipeline waits for results, as a real Ctrl-C does
    source = FakeSource(10_000, delay=0.01, interrupt_at=8)
    recorder = RecordingSink()
    pipeline = Pipeline(source, FakeBackend(), [recorder, sink_from_uri(f"video://{video}")], echo=False)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    summary = pipeline.summary
    assert summary["stopped_by"] == "interrupt" and summary["frames_in"] < 100
    check_accounting(summary)
    assert recorder.closed == 1 and not pipeline_threads() and source.closed_iterator
    assert video_frames(video) == summary["frames_out"] == len(recorder.indices) >= 1


def test_keyboard_interrupt_inside_a_sink_is_the_same_path():
    recorder = RecordingSink(raise_at=3, exc=KeyboardInterrupt())
    pipeline = Pipeline(FakeSource(20), FakeBackend(), [recorder], echo=False)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    assert pipeline.summary["stopped_by"] == "interrupt" and pipeline.summary["frames_out"] == 3
    check_accounting(pipeline.summary)
    assert recorder.closed == 1 and not pipeline_threads()


class SigintSink(RecordingSink):
    """Sends the process a real SIGINT while it writes frame `at`: a Ctrl-C landing inside one frame."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def write(self, result):
        super().write(result)
        if len(self.indices) == self.at + 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, between the writes of one frame


def test_ctrl_c_during_a_frame_takes_effect_after_every_sink_has_it():
    first, second = SigintSink(at=3), RecordingSink()
    pipeline = Pipeline(FakeSource(50, delay=0.001), FakeBackend(), [first, second], echo=False)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    assert pipeline.summary["stopped_by"] == "interrupt"
    assert first.indices == second.indices == [0, 1, 2, 3] and pipeline.summary["frames_out"] == 4
    check_accounting(pipeline.summary)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


def send_later(*steps):
    """(seconds, signal) steps, sent to this process from another thread."""
    def send():
        for delay, signum in steps:
            time.sleep(delay)
            os.kill(os.getpid(), signum)

    threading.Thread(target=send, daemon=True).start()


def test_sigterm_stops_like_ctrl_c_inside_stop_signals(tmp_path):
    stats = tmp_path / "stats.json"
    pipeline = Pipeline(FakeSource(10_000, delay=0.005), FakeBackend(), [RecordingSink(), sink_from_uri(f"stats://{stats}")],
                        echo=False)
    send_later((0.3, signal.SIGTERM))
    with pytest.raises(Interrupted) as stopped, stop_signals():
        pipeline.run()
    assert stopped.value.signum == signal.SIGTERM and isinstance(stopped.value, KeyboardInterrupt)
    assert pipeline.summary["stopped_by"] == "interrupt" and pipeline.summary["frames_out"] >= 1
    assert json.loads(stats.read_text())["summary"]["frames_out"] == pipeline.summary["frames_out"]
    check_accounting(pipeline.summary)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_second_signal_stops_waiting_for_the_worker_threads(tmp_path):
    """The first SIGINT ends the run; the second, while the shutdown waits for an inference that takes seconds,
    ends the wait: the sinks are still closed, the thread is reported, and the call returns at once (the old
    code raised KeyboardInterrupt inside the join: no sink was closed)."""
    stats, recorder = tmp_path / "stats.json", RecordingSink()
    pipeline = Pipeline(FakeSource(100), FakeBackend(delay=3.0), [recorder, sink_from_uri(f"stats://{stats}")],
                        echo=False, warmup=False)
    send_later((0.4, signal.SIGINT), (0.2, signal.SIGINT))  # both inside the first inference
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline.run()
        assert time.monotonic() - start < 2.0
        assert pipeline.workers_alive() == ["amf-edge-infer"]
        summary = pipeline.summary
        assert summary["stopped_by"] == "interrupt" and summary["second_signal"] is True
        assert summary["stuck_threads"] == ["amf-edge-infer"] and "before the second signal" in format_summary(summary)
        check_accounting(summary)  # the frame the thread still holds counts as dropped at shutdown
        assert recorder.closed == 1 and json.loads(stats.read_text())["summary"]["stopped_by"] == "interrupt"
    finally:
        for t in pipeline_threads():
            t.join(10)
    assert not pipeline.workers_alive()


def test_a_sink_asking_to_stop_ends_the_run_normally():
    recorder = RecordingSink(raise_at=4, exc=StopStream())
    summary = Pipeline(FakeSource(50, delay=0.001), FakeBackend(), [recorder], echo=False).run()
    assert summary["stopped_by"] == "quit" and summary["error"] is None and summary["frames_out"] == 4
    check_accounting(summary)
    assert recorder.closed == 1


def test_max_frames_and_stop():
    summary = Pipeline(FakeSource(50), FakeBackend(), [RecordingSink()], max_frames=7, echo=False).run()
    assert summary["stopped_by"] == "max-frames" and summary["frames_in"] == summary["frames_out"] == 7

    class StopAfterTwo(RecordingSink):
        def write(self, result):
            super().write(result)
            if len(self.indices) == 2:
                pipeline.stop()

    sink = StopAfterTwo()
    pipeline = Pipeline(FakeSource(1000, delay=0.002), FakeBackend(), [sink], echo=False)
    summary = pipeline.run()
    assert summary["stopped_by"] == "stopped" and summary["frames_in"] < 1000
    assert summary["frames_out"] == summary["frames_in"] and sink.indices == list(range(summary["frames_out"]))


def test_a_sink_that_cannot_open_closes_the_others_and_starts_nothing(tmp_path, capsys):
    (tmp_path / "taken.mp4").mkdir()
    first = RecordingSink()
    pipeline = Pipeline(FakeSource(5), FakeBackend(), [first, sink_from_uri(f"video://{tmp_path / 'taken.mp4'}")])
    with pytest.raises(AmfEdgeError, match="is a folder"):
        pipeline.run()
    assert first.opened and first.closed == 1 and pipeline.summary["frames_in"] == 0
    assert capsys.readouterr().out == ""  # no summary for a run that never started


def test_a_wrong_frame_size_is_resized_or_with_resize_off_reported_with_the_fix(capsys):
    sink = RecordingSink()
    pipeline = Pipeline(FakeSource(5, size=(20, 30)), FakeBackend(), [sink], echo=False)
    assert pipeline.run()["frames_out"] == 5
    assert "the frames are 20×30 and the model takes 24×32" in capsys.readouterr().out
    assert sink.sizes == [(24, 32)] * 5  # the sinks see what the model saw
    source = FakeSource(5, size=(20, 30))
    source.resize = False  # what ?resize=0 sets
    pipeline = Pipeline(source, FakeBackend(), [RecordingSink()], echo=False)
    with pytest.raises(AmfEdgeError, match=r"the frame is 20×30 but the model takes 24×32"):
        pipeline.run()
    check_accounting(pipeline.summary)


@pytest.mark.parametrize("kwargs, message", [
    ({"policy": "fastest"}, "unknown policy"), ({"max_frames": 0}, "at least 1"), ({"queue_size": 0}, "at least 1")])
def test_bad_options(kwargs, message):
    with pytest.raises(AmfEdgeError, match=message):
        Pipeline(FakeSource(1), FakeBackend(), **kwargs)


def test_frame_queue_policies():
    live = FrameQueue(2, drop_oldest=True)
    for i in range(5):
        assert live.put(i)
    assert live.dropped == 3 and [live.get(), live.get()] == [3, 4]
    lossless = FrameQueue(1, drop_oldest=False)
    lossless.put("a")
    done = threading.Event()
    threading.Thread(target=lambda: (lossless.put("b"), done.set()), daemon=True).start()
    assert not done.wait(0.1)  # back-pressure: the producer waits for room
    assert lossless.get() == "a" and done.wait(2) and lossless.get() == "b"
    blocked = threading.Thread(target=lambda: lossless.put("c") or lossless.put("d"), daemon=True)
    blocked.start()
    time.sleep(0.05)
    assert lossless.close() == ["c"]  # close hands back what was queued and wakes the waiting producer
    blocked.join(2)
    assert not blocked.is_alive()
    with pytest.raises(_Closed):
        lossless.get()


def test_format_summary_mentions_every_number():
    summary = Pipeline(FakeSource(4), FakeBackend(), echo=False).run()
    text = format_summary(summary)
    for needle in ("4 frames in, 4 out, 0 dropped", "FPS", "p50", "p90", "p99", "max", "inference", "stopped by end"):
        assert needle in text
