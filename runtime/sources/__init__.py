"""Frame sources by URI (the jetson-inference habit): `open_source("synthetic://?n=10")`."""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from amf_edge.errors import AmfEdgeError
from runtime.sources.base import Source

# scheme → "module:Class"; modules import lazily so a missing optional package only matters when used.
SCHEMES = {
    "synthetic": "runtime.sources.synthetic:SyntheticSource",
    "realsense": "runtime.sources.realsense:RealSenseSource",
    "bag": "runtime.sources.realsense:BagSource",
    "tum": "runtime.sources.tum:TumSource",
    "folder": "runtime.sources.folder:FolderSource",
}


def open_source(uri: str) -> Source:
    scheme = urlsplit(uri).scheme
    if scheme not in SCHEMES:
        raise AmfEdgeError(f"unknown source {uri!r}: expected a URI starting with one of "
                           f"{', '.join(s + '://' for s in SCHEMES)}")
    module_name, class_name = SCHEMES[scheme].split(":")
    return getattr(importlib.import_module(module_name), class_name)(uri)


__all__ = ["SCHEMES", "Source", "open_source"]
