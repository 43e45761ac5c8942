"""Engine bundles: the sidecar round trip, the key, what loads where (no GPU needed)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest

from amf_edge import bundle as B
from amf_edge.bundle import engine_key, key_fields, load_bundle, read_bundle, up_to_date
from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import Device
from amf_edge.synthetic import SYNTHETIC_LABELS

ORIN = Device("NVIDIA Jetson AGX Orin", "8.7", integrated=True)
RTX_4090 = Device("NVIDIA GeForce RTX 4090", "8.9")
RTX_3090 = Device("NVIDIA GeForce RTX 3090", "8.6")
T4 = Device("Tesla T4", "7.5")
META = {
    "labels": SYNTHETIC_LABELS.to_dict(), "precision": "fp16",
    "input_contract": {"rgb": {"dtype": "uint8", "shape": ["N", 48, 64, 3], "channel_order": "RGB"},
                       "depth": {"dtype": "float32", "shape": ["N", 48, 64]}, "outputs": ["labels", "confidence"]},
}


@pytest.fixture
def make_bundle(write_engine_bundle):
    """make_bundle(folder, tensorrt=..., device=..., **build_options): a fake engine bundle with META, built on
    ORIN unless a test says otherwise (tests/conftest.py)."""
    return functools.partial(write_engine_bundle, metadata=META, device=ORIN)


def test_sidecar_round_trip_and_contract(tmp_path, make_bundle):
    written = make_bundle(tmp_path)
    assert (tmp_path / "m.engine.json").is_file()
    loaded = read_bundle(tmp_path / "m.engine")
    assert loaded == written
    contract = ModelContract.from_metadata(loaded.metadata)
    assert ((contract.height, contract.width, contract.outputs, contract.precision)
            == (48, 64, ("labels", "confidence"), "fp16"))
    assert contract.labels == SYNTHETIC_LABELS
    side = json.loads((tmp_path / "m.engine.json").read_text())
    assert (side["format"] == "amf-edge-engine-bundle"
            and side["gpu"] == {"name": ORIN.name, "compute_capability": "8.7", "integrated": True})


def test_the_key_covers_everything_that_determines_the_engine():
    base = {"onnx_sha256": "a" * 64, "tensorrt_version": "10.3.0", "device": ORIN, "precision": "fp16",
            "options": {"opt_level": 3}}
    key = engine_key(key_fields(**base))
    assert key == engine_key(key_fields(**base)) and len(key) == 64
    for change in ({"onnx_sha256": "b" * 64}, {"tensorrt_version": "10.3.1"}, {"device": RTX_4090},
                   {"device": Device(ORIN.name, "8.6", True)}, {"precision": "int8"}, {"options": {"opt_level": 4}}):
        assert engine_key(key_fields(**{**base, **change})) != key, change


def test_load_checks_tensorrt_version_and_gpu(tmp_path, make_bundle):
    make_bundle(tmp_path, tensorrt="10.3.0", device=ORIN, dla_core=0)
    assert load_bundle(tmp_path / "m.engine", tensorrt_version="10.3.0", device=ORIN).device == ORIN
    with pytest.raises(AmfEdgeError) as e:
        load_bundle(tmp_path / "m.engine", tensorrt_version="10.16.1.11", device=RTX_4090)
    text = str(e.value)
    assert ("built for TensorRT 10.3.0 on NVIDIA Jetson AGX Orin (compute capability 8.7), but this is TensorRT "
            "10.16.1.11 on NVIDIA GeForce RTX 4090 (compute capability 8.9)") in text
    assert "the TensorRT version and GPU differ" in text
    assert "rebuild it here with `amf-edge build m.onnx -o " in text and "--dla 0 --force`" in text
    with pytest.raises(AmfEdgeError, match="but this is TensorRT 10.3.1 on .* the TensorRT version differs"):
        load_bundle(tmp_path / "m.engine", tensorrt_version="10.3.1", device=ORIN)  # patch releases too


@pytest.mark.parametrize("built, running, ok", [
    ("10.3.0", "10.16.1.11", True), ("10.3.0", "11.4.0.106", True), ("10.16.1.11", "10.3.0", False),
    ("11.4.0.106", "11.5.0", True), ("11.4.0.106", "12.0.0", False), ("11.4.0.106", "10.16.1.11", False),
])
def test_version_compatible_engines_load_on_later_runtimes_only(tmp_path, built, running, ok, make_bundle):
    make_bundle(tmp_path, tensorrt=built, version_compatible=True)
    if ok:
        load_bundle(tmp_path / "m.engine", tensorrt_version=running, device=ORIN)
    else:
        with pytest.raises(AmfEdgeError, match="version-compatible: later 10.x/11.x runtimes"):
            load_bundle(tmp_path / "m.engine", tensorrt_version=running, device=ORIN)


@pytest.mark.parametrize("device, ok", [(RTX_4090, True), (RTX_3090, True), (T4, False), (ORIN, False)])
def test_hardware_compatible_engines_load_on_ampere_or_newer_discrete_gpus(tmp_path, device, ok, make_bundle):
    make_bundle(tmp_path, tensorrt="10.16.1.11", device=RTX_4090, hardware_compat="ampere+")
    if ok:
        load_bundle(tmp_path / "m.engine", tensorrt_version="10.16.1.11", device=device)
    else:
        with pytest.raises(AmfEdgeError, match=r"hardware-compatible: Ampere or newer discrete GPUs.* the GPU differs"):
            load_bundle(tmp_path / "m.engine", tensorrt_version="10.16.1.11", device=device)


def test_missing_or_foreign_files_are_errors_that_say_how_to_rebuild(tmp_path, make_bundle):
    with pytest.raises(AmfEdgeError, match="no such engine file; build one with `amf-edge build"):
        read_bundle(tmp_path / "none.engine")
    (tmp_path / "bare.engine").write_bytes(b"plan")
    with pytest.raises(AmfEdgeError, match="has no sidecar bare.engine.json"):
        read_bundle(tmp_path / "bare.engine")
    (tmp_path / "bare.engine.json").write_text('{"format": "something-else"}')
    with pytest.raises(AmfEdgeError, match="not an amf-edge engine sidecar .*--force"):
        read_bundle(tmp_path / "bare.engine")
    make_bundle(tmp_path)
    side = json.loads((tmp_path / "m.engine.json").read_text())
    side["format_version"] = 99
    (tmp_path / "m.engine.json").write_text(json.dumps(side))
    with pytest.raises(AmfEdgeError, match="format_version 99, this amf-edge reads 1"):
        read_bundle(tmp_path / "m.engine")


def test_up_to_date_says_why_not(tmp_path, make_bundle):
    bundle = make_bundle(tmp_path)
    fields = bundle.key_fields()
    assert up_to_date(tmp_path / "m.engine", bundle.key, fields) == (bundle, "")
    assert up_to_date(tmp_path / "other.engine", bundle.key, fields) == (None, "no engine bundle yet")
    changed = key_fields(onnx_sha256="a" * 64, tensorrt_version="10.16.1.11", device=ORIN, precision="fp16",
                         options={**bundle.options, "opt_level": 5})
    existing, why = up_to_date(tmp_path / "m.engine", engine_key(changed), changed)
    assert existing is None and why == 'changed: options.opt_level null → 5; tensorrt "10.3.0" → "10.16.1.11"'
    (tmp_path / "m.engine").write_bytes(b"truncated")
    assert "does not match the sha256 in its sidecar" in up_to_date(tmp_path / "m.engine", bundle.key, fields)[1]


def test_the_bundle_module_needs_no_numpy(tmp_path, make_bundle):
    make_bundle(tmp_path)
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'torch', 'tensorrt', 'cuda', 'pycuda'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from amf_edge.bundle import load_bundle\n"
        "from amf_edge.gpu import Device\n"
        f"b = load_bundle({str(tmp_path / 'm.engine')!r}, tensorrt_version='10.3.0', "
        f"device=Device({ORIN.name!r}, '8.7', True))\n"
        "assert 'numpy' not in sys.modules\n"
        "print(b.precision)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "fp16", result.stderr


def test_version_tuple():
    assert B.version_tuple("10.16.1.11") == (10, 16, 1, 11) and B.version_tuple("11.4.0.post1") == (11, 4, 0)
    with pytest.raises(AmfEdgeError, match="cannot read the TensorRT version"):
        B.version_tuple("dev")
