"""`synthetic://?seed=S&n=N&height=H&width=W[&fps=F&resize=0]`: the procedural scenes as a frame source.

Without `fps` it is a recording, read as fast as the pipeline takes it (lossless by default); with `fps` it is a
camera: frames come at that rate whether or not the model keeps up (live by default: the newest frame wins), so
a demo or a benchmark shows the latency a robot would see, not a queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from amf_edge.runtime.frames import Frame
from amf_edge.runtime.sources.base import Source
from amf_edge.synthetic import SyntheticScenes, parse_synthetic_uri
from amf_edge.uri import FLAG, positive_float

FPS = 30.0  # the timestamps a 30 Hz camera would give, when no rate is asked for


class SyntheticSource(Source):
    scheme = "synthetic"

    def __init__(self, uri: str):
        super().__init__(uri)
        scenes, given = parse_synthetic_uri(uri, extra={"fps": (positive_float, "frames per second, > 0"),
                                                        "resize": FLAG})
        # n frames from the validation stream: never a training scene
        self.scenes = SyntheticScenes(scenes.seed, scenes.n, scenes.height, scenes.width, split="val")
        self.fps: float | None = given.get("fps")
        self.live = self.fps is not None
        self.resize = bool(given.get("resize", True))  # 0: a size other than the model's is an error

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter()
        for i, sample in enumerate(self.scenes):  # rendering a scene takes time too: pace on the clock, not by sleeps
            if self.fps is not None and (wait := start + i / self.fps - time.perf_counter()) > 0:
                time.sleep(wait)
            yield Frame(sample=sample, index=i, timestamp_s=i / (self.fps or FPS), received_s=time.perf_counter())
