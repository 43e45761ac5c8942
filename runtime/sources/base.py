"""The frame-source interface: an iterable of synchronized `Frame`s addressed by URI."""

from __future__ import annotations

import abc
from collections.abc import Iterator

from amf_edge.runtime.frames import Frame


class Source(abc.ABC):
    """A stream of aligned RGB-D frames.

    `live` sources (cameras) produce frames whether or not anyone reads them, so the pipeline defaults
    to the newest-frame-wins policy for them; file sources wait for their reader (lossless by default).
    Iterate once; `close` releases the device or file and may be called more than once.
    """

    scheme: str = "?"
    live: bool = False
    resize: bool = True  # frames of another size than the model's are resized to it (file sources: ?resize=0: no)

    def __init__(self, uri: str):
        self.uri = uri

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Frames in capture order until the stream ends."""

    def stats(self) -> dict:
        """Pairing and delivery statistics so far (matched, unmatched colour/depth, max skew, ...)."""
        return {}

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
