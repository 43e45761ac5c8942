"""Outputs by URI (the jetson-inference habit): `sink_from_uri("video://out.mp4")`.

| URI | writes |
|---|---|
| `window` / `window://?view=side` | an OpenCV window with legend, FPS and latency; q/Esc quit, space pause, v view |
| `video://out.mp4?fps=30&view=overlay` | a video (.mp4/.mkv H.264, .avi Motion JPEG) at the frames' times |
| `masks://DIR?color=1` | DIR/labels/NAME.png class ids, DIR/color/NAME.png colours, DIR/classes.json |
| `stats://out.json` | per-frame timestamps and stage times plus the summary, written atomically at close |
| `http://127.0.0.1:8080?view=overlay&quality=80&fps=15` | an MJPEG preview page with live statistics (headless) |
| `rosbag://out.mcap?prefix=/amf_edge` | a ROS 2 bag, the folder out/ (out.db3: sqlite3): labels, overlay, camera_info |

Views: overlay, mask, side (overlay | mask), input. Nothing is shown unless a sink asks for it.
NAME is the source's name for the frame (a file stem, a TUM timestamp), else its number. File sinks check every
write (sinks/files.py): a full disk or an I/O error stops the run with one line, and every file under a final
name is whole.
"""

from __future__ import annotations

import importlib

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext, StopStream
from amf_edge.uri import split_uri

# scheme → "module:Class"; modules import lazily, like the sources'.
SCHEMES = {
    "window": "amf_edge.runtime.sinks.window:WindowSink",
    "video": "amf_edge.runtime.sinks.video:VideoSink",
    "masks": "amf_edge.runtime.sinks.masks:MasksSink",
    "stats": "amf_edge.runtime.sinks.stats:StatsSink",
    "http": "amf_edge.runtime.sinks.http:HttpSink",
    "rosbag": "amf_edge.runtime.sinks.rosbag:RosbagSink",
}
EXAMPLES = ("window, video://out.mp4, masks://out/masks, stats://out/stats.json, http://127.0.0.1:8080, "
            "rosbag://out/results.mcap")


def sink_from_uri(uri: str) -> Sink:
    """The sink a URI names, its options checked; it acquires nothing until the pipeline opens it."""
    if uri == "window":
        uri = "window://"
    scheme = split_uri(uri)[0]
    if scheme not in SCHEMES:
        hint = {"https": "; the preview serves plain http: put it behind a TLS proxy or an SSH tunnel",
                "display": "; the OpenCV window is 'window'",
                "file": "; write video://PATH.mp4 or masks://DIR"}.get(scheme, "")
        if not scheme and uri.lower().endswith((".mp4", ".avi", ".mkv")):
            hint = f"; write video://{uri}"
        raise AmfEdgeError(f"unknown sink {uri!r}: expected one of {EXAMPLES}{hint}")
    module_name, class_name = SCHEMES[scheme].split(":")
    return getattr(importlib.import_module(module_name), class_name)(uri)


__all__ = ["SCHEMES", "Result", "RunReport", "Sink", "SinkContext", "StopStream", "sink_from_uri"]
