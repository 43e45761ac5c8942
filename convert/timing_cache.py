"""TensorRT's timing cache (`amf-edge build --timing-cache FILE`), in a file that says whose timings it holds.

Tactic timings belong to one TensorRT version and GPU. The file is a header line, TIMING_CACHE_MAGIC and
the JSON {"tensorrt", "gpu", "compute_capability"}, then TensorRT's serialized cache; loading checks the
header against the build before TensorRT sees the timings.
"""

from __future__ import annotations

import json
from pathlib import Path

from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import Device

TIMING_CACHE_MAGIC = b"AMF-EDGE-TIMING-CACHE "


def load_timing_cache(path: Path, tensorrt_version: str, device: Device) -> bytes:
    """The timings in `path` (b"" when it does not exist yet), after checking they are for this TensorRT and GPU."""
    if not path.exists():
        return b""
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    if not header.startswith(TIMING_CACHE_MAGIC):
        raise AmfEdgeError(f"--timing-cache {path} is not an amf-edge timing cache (no header saying which TensorRT "
                           "and GPU it is for); pass a new file name and amf-edge creates it")
    try:
        owner = json.loads(header[len(TIMING_CACHE_MAGIC):])
    except ValueError:
        raise AmfEdgeError(f"--timing-cache {path} has a damaged header; delete it") from None
    mine = _owner(tensorrt_version, device)
    if owner != mine:
        raise AmfEdgeError(f"--timing-cache {path} holds timings of TensorRT {owner.get('tensorrt')} on "
                           f"{owner.get('gpu')} ({owner.get('compute_capability')}); this build is TensorRT "
                           f"{tensorrt_version} on {device.describe()}, and timings do not transfer: pass another "
                           "--timing-cache file (one per TensorRT version and GPU)")
    return body


def save_timing_cache(path: Path, body: bytes, tensorrt_version: str, device: Device) -> None:
    header = TIMING_CACHE_MAGIC + json.dumps(_owner(tensorrt_version, device)).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header + body)
    tmp.replace(path)


def _owner(tensorrt_version: str, device: Device) -> dict[str, str]:
    return {"tensorrt": tensorrt_version, "gpu": device.name, "compute_capability": device.compute_capability}
