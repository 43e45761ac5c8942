"""What every frame source yields: one aligned RGB-D frame with its capture time and number."""

from __future__ import annotations

from dataclasses import dataclass

from amf_edge.sample import RGBDSample


@dataclass
class Frame:
    """One synchronized colour + depth pair.

    Attributes:
        sample: the aligned pair (rgb uint8 H×W×3 RGB, depth uint16 raw counts with its depth unit,
            intrinsics when the source knows them).
        index: the source's frame number (monotonic; gaps mean the source dropped frames).
        timestamp_s: capture time on the source's clock (hardware clock for cameras, recorded time
            for files), in seconds.
        received_s: `time.perf_counter()` when the source handed the frame out.
        sync_ms: how long the source spent pairing and aligning the two images before `received_s`, from
            the first one's arrival (0 for sources that read pairs from files): latency starts there.
        name: the source's own name for the frame, where it has one: a folder's file stem, a TUM timestamp
            exactly as its rgb.txt writes it ("1305031102.175304"); None for cameras and synthetic frames.
            Output files are named after it (masks://), so they match the input files.
    """

    sample: RGBDSample
    index: int
    timestamp_s: float
    received_s: float
    sync_ms: float = 0.0
    name: str | None = None
