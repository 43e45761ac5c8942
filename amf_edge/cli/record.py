"""Record a RealSense camera's depth and colour streams into a rosbag2 .db3 file for later replay.

The recording is what librealsense's own recorder writes (intrinsics, extrinsics, depth unit,
timestamps, frame numbers), so `bag://FILE.db3` replays it exactly as the camera delivered it, frame by
frame. librealsense ≥ 2.58 writes only .db3 (older .bag recordings still play). Without --seconds or
--frames the recording runs until Ctrl-C; Ctrl-C always leaves a complete file.

examples:
  amf-edge record realsense:// kitchen.db3 --seconds 10
  amf-edge record "realsense://123456789012?width=848&height=480&fps=30" desk.db3 --frames 300
  amf-edge record realsense:// long.db3                   # until Ctrl-C
  amf-edge record realsense:// raw.db3 --no-compression   # no PNG: bigger file, less CPU while recording
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from amf_edge.arguments import bounded
from amf_edge.errors import AmfEdgeError
from amf_edge.runtime import realsense
from amf_edge.runtime.record import Recorder, check_recording_path
from amf_edge.runtime.sources.realsense import parse_camera_uri

HELP = "record a RealSense camera to a .db3 file for replay with bag://"
EXTRAS = "runtime,realsense"  # pip install "amf-edge[runtime,realsense]" brings what this command needs

# argparse types: amf_edge.arguments.bounded, as every command's
_positive_float = bounded(float, 0, "a number of seconds > 0", strict=True)
_positive_int = bounded(int, 1, "a number of frames ≥ 1")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="the camera: realsense://[SERIAL][?width=640&height=480&fps=30]")
    parser.add_argument("output", help="the recording to write, FILE.db3")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=_positive_float, help="stop after this many seconds")
    limit.add_argument("--frames", type=_positive_int,
                       help="stop once this many depth + colour frame pairs are recorded (a camera may add a few more)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--no-compression", action="store_true", help="store images uncompressed")


def progress_printer(stream=None, every_s: float = 0.5) -> Callable[[Recorder], None]:
    """A progress line on `stream` (default stderr), rewritten in place: frames, seconds, rate, file size."""
    stream = stream or sys.stderr
    last = [0.0]

    def show(rec: Recorder) -> None:
        now = time.monotonic()
        if now - last[0] < every_s:
            return
        last[0] = now
        size = rec.path.stat().st_size / 1e6 if rec.path.exists() else 0.0
        rate = rec.frames / rec.elapsed_s if rec.elapsed_s > 0 else 0.0
        stream.write(f"\rrecording {rec.path}: {rec.frames} frames, {rec.elapsed_s:.1f} s, {rate:.1f} fps, "
                     f"{size:.1f} MB ")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    if not args.source.startswith("realsense://"):
        raise AmfEdgeError(f"record takes a camera URI realsense://[SERIAL]?width=&height=&fps=, got {args.source!r}")
    check_recording_path(args.output, args.overwrite)  # before touching the camera: a bad name fails fast
    serial, options = parse_camera_uri(args.source)
    if "max_dt" in options:
        raise AmfEdgeError("max_dt is a pairing option of playback; a recording keeps both streams unpaired, drop it")
    device = realsense.find_camera(serial)
    what = f"camera {realsense.describe_device(device)}"
    print(f"recording {what} at {options['width']}×{options['height']}@{options['fps']} to {args.output}; "
          "Ctrl-C stops", file=sys.stderr)
    interrupted = False
    with Recorder(device, args.output, width=options["width"], height=options["height"], fps=options["fps"],
                  compress=not args.no_compression, overwrite=args.overwrite, what=what) as rec:
        try:
            rec.wait(frames=args.frames, seconds=args.seconds, progress=progress_printer())
        except KeyboardInterrupt:
            interrupted = True  # leaving the with block completes the file
    size = Path(args.output).stat().st_size / 1e6
    print(f"\n{'stopped by Ctrl-C; ' if interrupted else ''}saved {rec.frames} frames ({rec.elapsed_s:.1f} s, "
          f"{size:.1f} MB) to {args.output}; replay with bag://{args.output}", file=sys.stderr)
    return 0
