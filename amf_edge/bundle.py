"""Engine bundles: a TensorRT engine plus the sidecar JSON that says what it is and where it runs.

`amf-edge build model.onnx -o model.engine` writes three files:

    model.engine              the serialized engine (TensorRT's plan, untouched)
    model.engine.json         the sidecar: the ONNX's amf-edge metadata (classes, palette, input contract;
                              `ModelContract.from_metadata(bundle.metadata)` works on it), the ONNX's
                              sha256, the TensorRT version, the GPU, the precision, the build options, the
                              engine's sha256 and a `key` over everything that determines the engine
    model.engine.layers.json  TensorRT's engine inspector report: each layer and the precision it got

An engine only runs with the TensorRT version and on the GPU it was built for (unless it was built
version- or hardware-compatible), so loading checks both and says how to rebuild instead of letting
TensorRT fail with a serialization error. A build whose key matches an existing bundle is skipped, as
jetson-inference does with its engine cache.

Standard library only: both `convert` (which writes bundles) and `runtime` (which reads them) use it,
and the runtime runs on Jetson images without torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from amf_edge.errors import AmfEdgeError
from amf_edge.files import file_sha256
from amf_edge.gpu import Device

FORMAT = "amf-edge-engine-bundle"
FORMAT_VERSION = 1
SIDECAR_SUFFIX = ".json"
LAYERS_SUFFIX = ".layers.json"

# Hardware-compatible engines run on any GPU of this compute capability or newer (TensorRT's
# HardwareCompatibilityLevel.AMPERE_PLUS), on discrete GPUs only.
HARDWARE_COMPAT_MIN_CC = {"ampere+": (8, 0)}
# Version-compatible engines run on later runtimes of the same major version, and TensorRT 10 engines
# also on TensorRT 11 (TensorRT 11.4 support matrix, "Engine Portability").
CROSS_MAJOR_COMPATIBLE = {(10, 11)}


def engine_key(fields: dict[str, Any]) -> str:
    """sha256 over the canonical JSON of everything that determines an engine."""
    text = json.dumps({"format": FORMAT_VERSION, **fields}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def key_fields(*, onnx_sha256: str, tensorrt_version: str, device: Device, precision: str,
               options: dict[str, Any]) -> dict[str, Any]:
    """What goes into the key: the model, the TensorRT version, the GPU, the precision, the build options."""
    return {
        "onnx_sha256": onnx_sha256,
        "tensorrt": tensorrt_version,
        "gpu": {"name": device.name, "compute_capability": device.compute_capability},
        "precision": precision,
        "options": options,
    }


@dataclass
class Bundle:
    """An engine file and what its sidecar says about it."""

    engine_path: Path
    metadata: dict[str, Any]  # the ONNX's amf-edge metadata, "precision" set to the engine's
    onnx: dict[str, Any]  # {"path", "sha256", "precision"}
    tensorrt: str
    device: Device
    precision: str
    options: dict[str, Any]
    key: str
    engine_sha256: str
    layers: str | None = None  # file name of the engine inspector report, beside the engine
    tools: dict[str, Any] = field(default_factory=dict)
    # `amf-edge build --check`: how the engine agreed with its ONNX on this GPU (amf_edge.convert.check); not in
    # the key: checking describes an engine, it does not change it
    check: dict[str, Any] | None = None

    @property
    def sidecar_path(self) -> Path:
        return sidecar_path(self.engine_path)

    def key_fields(self) -> dict[str, Any]:
        return key_fields(onnx_sha256=self.onnx["sha256"], tensorrt_version=self.tensorrt, device=self.device,
                          precision=self.precision, options=self.options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "key": self.key,
            "engine": {"file": self.engine_path.name, "sha256": self.engine_sha256, "layers": self.layers},
            "onnx": self.onnx, "tensorrt": self.tensorrt, "gpu": asdict(self.device), "precision": self.precision,
            "options": self.options, "tools": self.tools, "metadata": self.metadata,
            **({"check": self.check} if self.check is not None else {}),
        }

    def check_note(self) -> str | None:
        """One line on how the engine agreed with its ONNX when it was checked; None when it never was."""
        c = self.check
        if not isinstance(c, dict) or not isinstance(c.get("label_agreement"), (int, float)):
            return None
        minimum = (c.get("thresholds") or {}).get("min_label_agreement")
        line = (f"checked against {c.get('against', 'its ONNX')}: {c['label_agreement']:.1f} % labels equal on "
                f"{c.get('frames', '?')} {c.get('frames_from', '')} frames".replace("  ", " ")
                + (f" (min {minimum:g} %)" if isinstance(minimum, (int, float)) else ""))
        if c.get("passed"):
            return line
        return line + ": below the check's thresholds, the engine disagrees with its ONNX (`amf-edge check` says how)"

    def rebuild_command(self) -> str:
        """The `amf-edge build` command that makes this engine again (on the machine it runs on)."""
        args = ["amf-edge", "build", self.onnx.get("path", "MODEL.onnx"), "-o", str(self.engine_path)]
        o = self.options
        if o.get("workspace_mib") is not None:
            args += ["--workspace", str(o["workspace_mib"])]
        if o.get("opt_level") is not None:
            args += ["--opt-level", str(o["opt_level"])]
        if o.get("dla_core") is not None:
            args += ["--dla", str(o["dla_core"])]
        if o.get("version_compatible"):
            args.append("--version-compatible")
        if o.get("hardware_compat"):
            args += ["--hardware-compat", o["hardware_compat"]]
        if o.get("fp16"):
            args.append("--fp16")
        if o.get("int8"):
            args += ["--int8", "--calib", (o.get("calibration") or {}).get("path", "calib_data/NAME")]
        return shlex.join(args)


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + SIDECAR_SUFFIX)


def layers_path(engine_path: str | os.PathLike) -> Path:
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + LAYERS_SUFFIX)


def write_bundle(bundle: Bundle) -> Path:
    """Write the sidecar (atomically, last: a build that dies midway leaves no valid bundle)."""
    path = bundle.sidecar_path
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(bundle.to_dict(), indent=1) + "\n")
    tmp.replace(path)
    return path


def read_bundle(engine_path: str | os.PathLike) -> Bundle:
    """Read an engine's sidecar; any problem with it is an AmfEdgeError that says how to rebuild."""
    engine_path = Path(engine_path)
    side = sidecar_path(engine_path)
    if not engine_path.is_file():
        raise AmfEdgeError(f"{engine_path}: no such engine file; build one with "
                           f"`amf-edge build MODEL.onnx -o {engine_path}`")
    if not side.is_file():
        raise AmfEdgeError(f"{engine_path} has no sidecar {side.name}, so nothing says which model, GPU and TensorRT "
                           f"version it is for; build it with `amf-edge build MODEL.onnx -o {engine_path}`")
    try:
        d = json.loads(side.read_text())
        if d.get("format") != FORMAT:
            raise ValueError(f"format is {d.get('format')!r}, expected {FORMAT!r}")
        if d.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"format_version {d.get('format_version')!r}, this amf-edge reads {FORMAT_VERSION}")
        return Bundle(
            engine_path=engine_path, metadata=d["metadata"], onnx=d["onnx"], tensorrt=d["tensorrt"],
            device=Device(**d["gpu"]), precision=d["precision"], options=d["options"], key=d["key"],
            engine_sha256=d["engine"]["sha256"], layers=d["engine"].get("layers"), tools=d.get("tools", {}),
            check=d.get("check"),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise AmfEdgeError(f"{side} is not an amf-edge engine sidecar ({e}); rebuild with "
                           f"`amf-edge build MODEL.onnx -o {engine_path} --force`") from None


def up_to_date(engine_path: str | os.PathLike, key: str, fields: dict[str, Any]) -> tuple[Bundle | None, str]:
    """(the existing bundle, "") when its key is `key` and its engine file is intact, else (None, why not)."""
    engine_path = Path(engine_path)
    if not sidecar_path(engine_path).is_file() or not engine_path.is_file():
        return None, "no engine bundle yet"
    try:
        bundle = read_bundle(engine_path)
    except AmfEdgeError as e:
        return None, str(e).split(";")[0]
    if bundle.key != key:
        changed = _diff(bundle.key_fields(), fields)
        return None, "changed: " + ("; ".join(changed) if changed else "bundle format")
    if file_sha256(engine_path) != bundle.engine_sha256:
        return None, f"{engine_path.name} does not match the sha256 in its sidecar (replaced or truncated)"
    return bundle, ""


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} {_short(a)} → {_short(b)}")
    return out


def _short(v: Any) -> str:
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:24] + "…"


def load_bundle(engine_path: str | os.PathLike, *, tensorrt_version: str, device: Device) -> Bundle:
    """Read a bundle and check that this TensorRT version and this GPU can run its engine."""
    bundle = read_bundle(engine_path)
    version_ok, device_ok = _version_ok(bundle, tensorrt_version), _device_ok(bundle, device)
    if not (version_ok and device_ok):
        o = bundle.options
        vc = " (version-compatible: later 10.x/11.x runtimes, never earlier)" if o.get("version_compatible") else ""
        hc = " (hardware-compatible: Ampere or newer discrete GPUs)" if o.get("hardware_compat") else ""
        what = " and ".join(w for w, ok in (("TensorRT version", version_ok), ("GPU", device_ok)) if not ok)
        what += " differ" if " and " in what else " differs"
        raise AmfEdgeError(f"{bundle.engine_path} was built for TensorRT {bundle.tensorrt}{vc} on "
                           f"{bundle.device.describe()}{hc}, but this is TensorRT {tensorrt_version} on "
                           f"{device.describe()}; an engine runs only with the TensorRT version and on the GPU it "
                           f"was built for, and the {what}: rebuild it here with `{bundle.rebuild_command()} --force`")
    return bundle


def version_tuple(version: str) -> tuple[int, ...]:
    """"10.16.1.11" → (10, 16, 1, 11); numeric components only (TensorRT versions have no letters)."""
    parts = []
    for p in version.split("."):
        if not p.isdigit():
            break
        parts.append(int(p))
    if not parts:
        raise AmfEdgeError(f"cannot read the TensorRT version {version!r}: expected numbers like 10.3.0")
    return tuple(parts)


def _version_ok(bundle: Bundle, runtime_version: str) -> bool:
    if bundle.tensorrt == runtime_version:
        return True
    if not bundle.options.get("version_compatible"):
        return False
    built, running = version_tuple(bundle.tensorrt), version_tuple(runtime_version)
    same_or_allowed_major = built[0] == running[0] or (built[0], running[0]) in CROSS_MAJOR_COMPATIBLE
    return running > built and same_or_allowed_major


def _device_ok(bundle: Bundle, device: Device) -> bool:
    if (bundle.device.name, bundle.device.compute_capability) == (device.name, device.compute_capability):
        return True
    level = bundle.options.get("hardware_compat")
    return level in HARDWARE_COMPAT_MIN_CC and device.cc >= HARDWARE_COMPAT_MIN_CC[level] and not device.integrated
