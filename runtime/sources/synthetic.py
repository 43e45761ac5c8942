"""`synthetic://?seed=S&n=N&height=H&width=W`: the procedural scenes as a frame source (a fake camera)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sources.base import Source
from amf_edge.synthetic import SyntheticScenes, parse_synthetic_uri

FPS = 30.0  # the timestamps a 30 Hz camera would give


class SyntheticSource(Source):
    scheme = "synthetic"

    def __init__(self, uri: str):
        super().__init__(uri)
        scenes = parse_synthetic_uri(uri)  # n frames from the validation stream: never a training scene
        self.scenes = SyntheticScenes(scenes.seed, scenes.n, scenes.height, scenes.width, split="val")

    def __iter__(self) -> Iterator[Frame]:
        for i, sample in enumerate(self.scenes):
            yield Frame(sample=sample, index=i, timestamp_s=i / FPS, received_s=time.perf_counter())
