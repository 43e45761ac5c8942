"""Stream RGB-D frames through a model into outputs: capture → inference → sinks, on threads.

The model file picks the backend: .onnx (ONNX Runtime), .engine (TensorRT bundle with its .json),
.pt (an amf-edge checkpoint in PyTorch, for reference). Sources and sinks are URIs; nothing is shown
unless a sink asks for it (headless by default), and the run ends with a summary: frames in, out and
dropped, FPS, latency percentiles (capture → output) and the mean time of every stage.

policies:
  live      newest frame wins: a slow stage drops frames (counted) instead of adding latency
            (default for cameras)
  lossless  every frame in order; slow stages make capture wait (default for recordings and files)

examples:
  amf-edge run r18.onnx --source "synthetic://?n=100&height=240&width=320" --sink stats://runs/stats.json
  amf-edge run r18.onnx --source realsense:// --sink window --sink http://127.0.0.1:8080
  amf-edge run r18.engine --source bag://walk.bag --sink video://walk.mp4 --sink masks://walk-masks
  amf-edge run runs/r18/best.pt --source "synthetic://?n=20" --backend torch --max-frames 10

Output folders are checked before the model loads, and every write is checked: a full disk or an I/O
error stops the run (exit 1) with the files written so far whole and playable. The run ends by saying
where each sink wrote (e.g. "wrote video: out.mp4 (300 frames, 7.1 fps, H.264)").

Ctrl-C stops a run cleanly: the video is finalized, statistics written, the summary printed (exit 130);
SIGTERM (systemd, docker stop) and SIGHUP (a closed terminal) do the same (exit 143 and 129). A second
signal stops waiting for the model and the camera, but every file is still finished.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "stream a source through a model into windows, files or a browser preview"
EXTRAS = "runtime"  # pip install "amf-edge[runtime]" brings what this command needs
POLICIES = ("live", "lossless")


def _epilog() -> str:
    # Built from the registries without importing any source or sink module: --help works anywhere.
    from amf_edge.runtime.sinks import EXAMPLES as SINKS
    from amf_edge.runtime.sources import SCHEMES as SOURCES

    return (f"sources: {', '.join(s + '://' for s in SOURCES)}\n"
            f"sinks: {SINKS}\n"
            "sink options: video ?fps=30&view=overlay|mask|side|input, http ?view=&quality=80&fps=15, "
            "window ?view=&legend=0, masks ?color=0")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.epilog = _epilog()
    parser.add_argument("model", type=Path, metavar="MODEL", help="model: .onnx, .engine (+ .json) or .pt checkpoint")
    parser.add_argument("--source", required=True, metavar="URI",
                        help="frame source, e.g. realsense:// or synthetic://?n=100")
    parser.add_argument("--sink", action="append", default=[], metavar="URI",
                        help="output; repeat for several (default: none, only the summary)")
    parser.add_argument("--policy", choices=POLICIES,
                        help="live or lossless (default: live for cameras, lossless for files)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames from the source")
    parser.add_argument("--depth-fallback", default="auto", choices=("auto", "off"),
                        help="auto: while under 40 %% of the depth pixels are valid, use the RGB head's labels "
                             "(labels_rgb, in amf-edge export's default outputs) and say so; off: always the "
                             "ensemble's (default: auto)")
    parser.add_argument("--backend", default="auto", choices=("auto", "ort", "trt", "torch"),
                        help="must match the model file (default: auto, from its suffix)")
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help="auto, cpu, cuda or cuda:N (default: auto: the GPU where the backend can use one)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads per inference (ONNX Runtime, PyTorch)")
    parser.add_argument("--queue", type=int, metavar="N", help="frames each queue holds (default: 1 live, 4 lossless)")


def run(args: argparse.Namespace) -> int:
    from amf_edge.cli.main import broken_model_metadata
    from amf_edge.errors import AmfEdgeError
    from amf_edge.runtime.backends import open_backend
    from amf_edge.runtime.pipeline import Pipeline, stop_signals
    from amf_edge.runtime.sinks import sink_from_uri
    from amf_edge.runtime.sources import open_source

    if args.max_frames is not None and args.max_frames < 1:
        raise AmfEdgeError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.queue is not None and args.queue < 1:
        raise AmfEdgeError(f"--queue must be at least 1, got {args.queue}")
    sinks = [sink_from_uri(uri) for uri in args.sink]  # URIs checked before the model loads
    for sink in sinks:
        sink.check()  # and that their outputs can be written: a read-only or missing folder fails in a second
    with stop_signals():  # SIGTERM and SIGHUP stop the run like Ctrl-C
        with broken_model_metadata(args.model):
            backend = open_backend(args.model, args.backend, device=args.device, threads=args.threads)
        if note := getattr(getattr(backend, "bundle", None), "check_note", lambda: None)():  # build --check's result
            print(note)
        with backend:
            with open_source(args.source) as source:
                if not sinks:
                    print("no --sink given: frames are processed and counted only "
                          "(add e.g. --sink window, --sink video://out.mp4 or --sink http://127.0.0.1:8080)")
                pipeline = Pipeline(source, backend, sinks, policy=args.policy, max_frames=args.max_frames,
                                    queue_size=args.queue, depth_fallback=args.depth_fallback)
                try:
                    pipeline.run()
                except BaseException as e:
                    _say_where_sinks_wrote(sinks)  # also after an error: what was kept, and where
                    _unless_workers_alive(pipeline, e)
                    raise
                _say_where_sinks_wrote(sinks)
                _unless_workers_alive(pipeline, None)
    return 0


def _say_where_sinks_wrote(sinks) -> None:
    for sink in sinks:
        line = sink.describe()
        if line:
            print(line, flush=True)


def _unless_workers_alive(pipeline, error: BaseException | None) -> None:
    """The sinks are closed; if a worker thread still runs inside the source or the backend (a second signal
    cut the wait short, or it hung), closing them under it could crash the process: leave at once instead."""
    if pipeline.workers_alive():
        from amf_edge.cli.main import leave_now

        leave_now("run", error)
