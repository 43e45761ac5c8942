"""`stats://out.json`: per-frame timestamps and stage times plus the run's summary, as one JSON file.

Every frame's row goes to a temporary file beside the target as the frame is done (the pipeline hands
finished rows to `log_frame`), so a run of days holds no rows in memory; at close the summary is
appended and the file renamed over the target, also after an error or Ctrl-C. The file is therefore the
whole run or absent, never half a document; a failed write removes the temporary file.

    {"format": "amf-edge-run-stats", "version": 1,
     "frames": [{"index": 0, "timestamp_s": 0.0, "received_s": 0.012, "capture_wait_ms": ..., "sync_ms": ...,
                 "queue_ms": ..., "preprocess_ms": ..., "upload_ms": ..., "inference_ms": ..., "download_ms": ...,
                 "postprocess_ms": ..., "sink_ms": ..., "latency_ms": ...}, ...],
     "summary": {... as printed by `amf-edge run` ...}}

(The summary comes last because it is known last; a JSON reader does not mind the order.) The stages are
amf_edge.runtime.pipeline.STAGES; all but capture_wait add up to latency_ms (docs/bench-report.md); a
row's sink_ms is the other sinks' time and this one's `write`, which only counts: the row itself is
written after the frame's clock stops.

`received_s` counts from the start of the run; only frames that reached the output are listed (the
summary counts the dropped ones).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.files import check_output
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
        self._file = None
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")

    def check(self) -> None:
        check_output(self.path, self.uri)  # before the model loads, not after the run: a folder, writable, room left

    def open(self, context: SinkContext) -> None:
        super().open(context)
        prepare_file(self.uri, self.path, "name a .json file")
        try:
            self._file = open(self._tmp, "w", encoding="utf-8")  # open for the whole run: rows stream in
            self._file.write(f'{{"format": "{FORMAT}", "version": {VERSION},\n "frames": [')
        except OSError as e:
            self._discard()
            raise AmfEdgeError(f"{self.uri}: cannot write in {self.path.parent} ({e.strerror}); "
                               "check the folder's permissions and free space") from None
        self._rows = 0

    def write(self, result: Result) -> None:
        self.written += 1  # the row comes in log_frame, once the frame's times are complete

    def log_frame(self, row: dict) -> None:
        """Append one frame's finished row (called by the pipeline after every sink has the frame)."""
        try:
            self._file.write(("\n  " if not self._rows else ",\n  ") + json.dumps(row, separators=(",", ":")))
        except OSError as e:
            self._discard()
            raise AmfEdgeError(f"{self.uri}: could not write {self.path} ({e.strerror}); "
                               "check the folder and free space") from None
        self._rows += 1

    def close(self, report: RunReport | None = None) -> None:
        if self._file is None:
            return  # never opened, or already written: once, however often close is called
        if report is None:  # the run never started: nothing to keep
            self._discard()
            return
        summary = json.dumps(report.summary, indent=1).replace("\n", "\n ")
        try:
            self._file.write(f"\n ],\n \"summary\": {summary}\n}}\n")
            self._file.close()
            os.replace(self._tmp, self.path)
        except OSError as e:
            self._discard()
            raise AmfEdgeError(f"{self.uri}: could not write {self.path} ({e.strerror}); "
                               "check the folder and free space") from None
        self._file = None

    def _discard(self) -> None:
        """Drop the temporary file: nothing half-written stays behind."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()
        self._tmp.unlink(missing_ok=True)

    def stats(self) -> dict:
        return {"written": self.written, "path": str(self.path)}
