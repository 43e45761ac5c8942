"""`stats://out.json`: per-frame timestamps and stage times plus the run's summary, as one JSON file.

Written at close, atomically (a temporary file renamed over the target), also after an error or
Ctrl-C, so the file is either the whole run or absent, never half a document.

    {"format": "amf-edge-run-stats", "version": 1,
     "summary": {... as printed by `amf-edge run` ...},
     "frames": [{"index": 0, "timestamp_s": 0.0, "received_s": 0.012, "capture_wait_ms": ..., "sync_ms": ...,
                 "queue_ms": ..., "preprocess_ms": ..., "upload_ms": ..., "inference_ms": ..., "download_ms": ...,
                 "postprocess_ms": ..., "sink_ms": ..., "latency_ms": ...}, ...]}

The stages are amf_edge.runtime.pipeline.STAGES; all but capture_wait add up to latency_ms (docs/bench-report.md).

`received_s` counts from the start of the run; only frames that reached the output are listed (the
summary counts the dropped ones).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext, prepare_file
from amf_edge.uri import parse_uri

EXAMPLE = "stats://runs/stats.json"
FORMAT, VERSION = "amf-edge-run-stats", 1


class StatsSink(Sink):
    scheme = "stats"

    def __init__(self, uri: str):
        super().__init__(uri)
        self.path = Path(parse_uri(uri, "stats", {}, EXAMPLE, location="file")[0])
        if self.path.suffix.lower() != ".json":
            raise AmfEdgeError(f"{uri!r}: the statistics are JSON; name the file .json, like {EXAMPLE!r}")

    def open(self, context: SinkContext) -> None:
        super().open(context)
        prepare_file(self.uri, self.path, "name a .json file")

    def write(self, result: Result) -> None:
        self.written += 1  # the pipeline's frame log holds the numbers; they are complete only at close

    def close(self, report: RunReport | None = None) -> None:
        if report is None or getattr(self, "context", None) is None:
            return
        columns = report.frames
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        # The summary indented for people, one line per frame: readable and still compact for long runs.
        head = json.dumps({"format": FORMAT, "version": VERSION, "summary": report.summary}, indent=1)
        frames = ",\n".join(json.dumps(row, separators=(",", ":")) for row in rows)
        text = head[:-1].rstrip() + ',\n "frames": [\n' + frames + "\n ]\n}\n"
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, self.path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise AmfEdgeError(f"{self.uri}: could not write {self.path} ({e.strerror}); "
                               "check the folder and free space") from None
        self.context = None  # written once, however often close is called

    def stats(self) -> dict:
        return {"written": self.written, "path": str(self.path)}
