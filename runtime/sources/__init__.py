"""Frame sources by URI (the jetson-inference habit): `open_source("synthetic://?n=10")`."""

from __future__ import annotations

import importlib

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.sources.base import Source
from amf_edge.uri import split_uri

# scheme → "module:Class"; modules import lazily so a missing optional package only matters when used.
SCHEMES = {
    "synthetic": "amf_edge.runtime.sources.synthetic:SyntheticSource",
    "realsense": "amf_edge.runtime.sources.realsense:RealSenseSource",
    "bag": "amf_edge.runtime.sources.realsense:BagSource",
    "tum": "amf_edge.runtime.sources.tum:TumSource",
    "folder": "amf_edge.runtime.sources.folder:FolderSource",
    "rosbag": "amf_edge.runtime.sources.rosbag:RosbagSource",
}


def open_source(uri: str) -> Source:
    scheme = split_uri(uri)[0]
    if scheme not in SCHEMES:
        raise AmfEdgeError(f"unknown source {uri!r}: expected a URI starting with one of "
                           f"{', '.join(s + '://' for s in SCHEMES)}")
    module_name, class_name = SCHEMES[scheme].split(":")
    return getattr(importlib.import_module(module_name), class_name)(uri)


__all__ = ["SCHEMES", "Source", "open_source"]
