"""Calibration caches: quantization ranges stored under the key of everything they depend on.

`cache_key` names what a calibration result depends on: the model's sha256, the calibration set's content
hash and frame count (amf_edge.calibset), the preprocessing version, the calibration method and its
settings. `write_cache` stores a payload under that key in a JSON file; `check_cache` and `read_cache`
refuse a cache computed for anything else (calib_data/README.md: Calibration caches).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from amf_edge import __version__
from amf_edge.calibset import CalibrationSet, PathLike, _json, _now
from amf_edge.errors import AmfEdgeError
from amf_edge.preprocess import PREPROCESS_VERSION

CACHE_FORMAT = "amf-edge-calibration-cache"
CACHE_VERSION = 1


def cache_key(model_sha256: str, calib_set: CalibrationSet, method: str, extra: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """What a calibration result depends on; a cache stored under any other key is stale.

    Args:
        model_sha256: sha256 hex of the model file being calibrated (`amf_edge.files.file_sha256`).
        calib_set: the opened set; its content hash and the current PREPROCESS_VERSION enter the key.
        method: the calibration method, e.g. "minmax", "entropy", "percentile".
        extra: any other JSON-able settings the ranges depend on (percentile, symmetric activations, ...).
    """
    if not (isinstance(model_sha256, str) and re.fullmatch(r"[0-9a-f]{64}", model_sha256)):
        raise AmfEdgeError(f"model_sha256 must be 64 lowercase hex digits (amf_edge.files.file_sha256(model)), "
                           f"got {model_sha256!r}")
    if not (isinstance(method, str) and method):
        raise AmfEdgeError(f"calibration method must be a non-empty name like 'minmax', got {method!r}")
    key = {"model_sha256": model_sha256, "calib_content_sha256": calib_set.content_sha256,
           "calib_frames": len(calib_set), "preprocess_version": PREPROCESS_VERSION, "method": method,
           "extra": dict(extra or {})}
    return json.loads(_json(key, "the cache key"))  # normalised (tuples → lists) so it compares to a stored key


def cache_key_digest(key: Mapping[str, Any]) -> str:
    """A short stable name for `key` (the sha256 of its canonical JSON), e.g. for cache file names."""
    return hashlib.sha256(_json(key, "the cache key", sort_keys=True).encode()).hexdigest()


def write_cache(path: PathLike, key: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
    """Store `payload` (e.g. {"ranges": {tensor: [low, high]}}) under `key` in the JSON file `path`, atomically."""
    if not isinstance(payload, Mapping):
        raise AmfEdgeError(f"calibration cache payload must be a dict, got {type(payload).__name__}")
    path = Path(path)
    document = {"format": CACHE_FORMAT, "format_version": CACHE_VERSION, "key": dict(key), "created": _now(),
                "tool_version": f"amf-edge {__version__}", "payload": dict(payload)}
    text = _json(document, "the calibration cache", indent=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_cache(path: PathLike, key: Mapping[str, Any]) -> bool:
    """False if there is no cache at `path`, True if there is one for `key`; a stale or corrupt one raises."""
    path = Path(path)
    if not path.exists():
        return False
    fix = f"delete {path} or rerun with --recalibrate"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AmfEdgeError(f"calibration cache {path} is not valid JSON ({e}); {fix}") from None
    if not (isinstance(stored, dict) and stored.get("format") == CACHE_FORMAT and isinstance(stored.get("key"), dict)
            and isinstance(stored.get("payload"), dict)):
        raise AmfEdgeError(f"{path} is not an amf-edge calibration cache (format {CACHE_FORMAT!r}); {fix}")
    if stored.get("format_version") != CACHE_VERSION:
        raise AmfEdgeError(f"calibration cache {path} has format_version {stored.get('format_version')!r}, this "
                           f"amf-edge reads {CACHE_VERSION}; {fix}")
    want = json.loads(_json(dict(key), "the cache key"))
    if stored["key"] != want:
        diffs = [f"{k}: cache has {_short(stored['key'].get(k))}, this run {_short(want.get(k))}"
                 for k in sorted(set(stored["key"]) | set(want)) if stored["key"].get(k) != want.get(k)]
        raise AmfEdgeError(f"stale calibration cache {path}: it was computed for other inputs "
                           f"({'; '.join(diffs)}); {fix}")
    return True


def read_cache(path: PathLike, key: Mapping[str, Any]) -> dict[str, Any]:
    """The payload stored under `key` at `path`; a missing, stale or corrupt cache raises."""
    if not check_cache(path, key):
        raise AmfEdgeError(f"calibration cache {path} does not exist; calibrate first (it is written by write_cache)")
    return json.loads(Path(path).read_text(encoding="utf-8"))["payload"]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 24 else text[:20] + "…"
