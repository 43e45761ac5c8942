"""The native part (native/, built by `make native` into build/native) against the Python package, on the same
files: .npy written by numpy, frames by amf_edge.bench.native.dump_frames, sidecars by amf_edge.bundle.write_bundle, and a
native report checked against docs/bench-report.schema.json. Builds nothing: without build/native (or
$AMF_EDGE_NATIVE_BUILD) every test skips with the reason. The C++ unit tests themselves run under ctest."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from amf_edge.bundle import load_bundle
from amf_edge.errors import AmfEdgeError
from amf_edge.gpu import Device
from amf_edge.bench.stats import summarize, throughput

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("AMF_EDGE_NATIVE_BUILD", ROOT / "build" / "native"))
PROBE = BUILD / "amf-edge-native-probe"
TOOL = BUILD / "amf-edge-bench-native"
SCHEMA = json.loads((ROOT / "docs" / "bench-report.schema.json").read_text())

pytestmark = pytest.mark.skipif(not PROBE.is_file(), reason=f"{PROBE} not built: run `make native` first")

ORIN = Device("NVIDIA Jetson AGX Orin", "8.7", integrated=True)
RTX_4090 = Device("NVIDIA GeForce RTX 4090", "8.9")
T4 = Device("Tesla T4", "7.5")
META = {
    "labels": {"names": ["wall", "floor"]}, "precision": "fp16", "layout": "nhwc-uint8",
    "input_contract": {"rgb": {"dtype": "uint8", "shape": ["N", 48, 64, 3], "channel_order": "BGR"},
                       "depth": {"dtype": "float32", "shape": ["N", 48, 64]}, "outputs": ["labels", "confidence"]},
}


def probe(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(PROBE), *map(str, args)], capture_output=True, text=True, timeout=60)
    assert (done.returncode == 0) == ok, done.stderr or done.stdout
    return done


def probe_json(*args: str):
    return json.loads(probe(*args).stdout)


def test_sha256_agrees_with_hashlib(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 3 * 2**20 + 17, dtype=np.uint8).tobytes()
    (tmp_path / "plan").write_bytes(data)
    assert probe("sha256", tmp_path / "plan").stdout.strip() == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("array", [
    np.arange(48 * 64 * 3, dtype=np.uint8).reshape(1, 48, 64, 3),
    np.linspace(0, 9.5, 48 * 64, dtype=np.float32).reshape(1, 48, 64),
    np.array(3.25), np.arange(5, dtype=np.int16), np.array([True, False]), np.zeros((0, 3), np.float32),
], ids=["rgb", "depth", "scalar", "int16", "bool", "empty"])
def test_npy_files_numpy_writes(tmp_path, array):
    np.save(tmp_path / "a.npy", array)
    got = probe_json("npy", tmp_path / "a.npy")
    assert got == {"dtype": array.dtype.name, "shape": list(array.shape),
                   "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def test_npy_version_2_and_what_the_reader_refuses(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    with open(tmp_path / "v2.npy", "wb") as f:
        np.lib.format.write_array(f, array, version=(2, 0))
    assert probe_json("npy", tmp_path / "v2.npy")["shape"] == [2, 3]
    refused = {"fortran.npy": (np.asfortranarray(array), "Fortran order"),
               "big.npy": (array.astype(">f4"), "big-endian float32"),
               "complex.npy": (array.astype(np.complex64), "unsupported dtype '<c8'")}
    for name, (value, message) in refused.items():
        np.save(tmp_path / name, value)
        assert message in probe("npy", tmp_path / name, ok=False).stderr
    data = (tmp_path / "v2.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-4])
    assert "truncated: a float32 (2, 3) array needs 24 bytes of data, the file has 20" in \
        probe("npy", tmp_path / "cut.npy", ok=False).stderr


def test_frames_dumped_by_bench(tmp_path):
    from amf_edge.bench.native import dump_frames

    rng = np.random.default_rng(1)
    inputs = [{"rgb": rng.integers(0, 256, (1, 48, 64, 3), dtype=np.uint8),
               "depth": rng.random((1, 48, 64), dtype=np.float32)} for _ in range(3)]
    directory = dump_frames(inputs, tmp_path / "frames").parent
    got = probe_json("frames", directory)
    assert (got["count"], got["height"], got["width"]) == (3, 48, 64)
    assert got["digests"] == [{name: hashlib.sha256(f[name].tobytes()).hexdigest() for name in ("depth", "rgb")}
                              for f in inputs]


@pytest.fixture
def make_bundle(write_engine_bundle):
    """make_bundle(folder, tensorrt=..., device=..., **build_options): a fake engine bundle with this file's META
    (BGR, a layout), built on ORIN unless a test says otherwise, whose ONNX path has a space that the native
    reader must keep (tests/conftest.py)."""
    return functools.partial(write_engine_bundle, metadata=META, device=ORIN, onnx_path="models/m 1.onnx")


def test_sidecar_written_by_python_reads_the_same(tmp_path, make_bundle):
    bundle = make_bundle(tmp_path, workspace_mib=512, dla_core=0, int8=True, calibration={"path": "calib_data/x"})
    got = probe_json("bundle", bundle.engine_path)
    assert got["tensorrt"] == "10.3.0" and got["gpu"] == {"name": ORIN.name, "compute_capability": "8.7",
                                                          "integrated": True}
    assert (got["key"], got["engine_sha256"], got["layers"]) == (bundle.key, bundle.engine_sha256, bundle.layers)
    assert got["rebuild_command"] == bundle.rebuild_command()
    assert got["contract"] == {"height": 48, "width": 64, "channel_order": "BGR", "outputs": ["labels", "confidence"],
                               "precision": "fp16"}


@pytest.mark.parametrize("built, options, running, device", [
    ("10.3.0", {"dla_core": 0}, "10.16.1.11", RTX_4090),
    ("10.3.0", {}, "10.3.1", ORIN),
    ("10.3.0", {}, "10.3.0", RTX_4090),
    ("10.16.1.11", {"version_compatible": True}, "10.3.0", ORIN),
    ("10.16.1.11", {"hardware_compat": "ampere+"}, "10.16.1.11", T4),
])
def test_load_errors_word_for_word_as_python(tmp_path, built, options, running, device, make_bundle):
    bundle = make_bundle(tmp_path, tensorrt=built, device=RTX_4090 if "hardware_compat" in options else ORIN,
                         **options)
    with pytest.raises(AmfEdgeError) as python:
        load_bundle(bundle.engine_path, tensorrt_version=running, device=device)
    args = [running, device.name, device.compute_capability] + (["integrated"] if device.integrated else [])
    native = probe("bundle", bundle.engine_path, *args, ok=False).stderr.strip()
    assert native == str(python.value)


@pytest.mark.parametrize("built, running", [("10.3.0", "10.16.1.11"), ("10.3.0", "11.4.0.106")])
def test_version_compatible_engines_load_natively_too(tmp_path, built, running, make_bundle):
    bundle = make_bundle(tmp_path, tensorrt=built, version_compatible=True)
    load_bundle(bundle.engine_path, tensorrt_version=running, device=ORIN)
    probe("bundle", bundle.engine_path, running, ORIN.name, "8.7", "integrated")


def test_statistics_equal_bench_stats():
    rng = np.random.default_rng(2)
    for samples in ([4.0, 1.0, 3.0, 2.0], [7.25], list(rng.gamma(4.0, 0.5, 101)), list(rng.normal(20, 3, 1000))):
        got = probe_json("stats", *(repr(float(x)) for x in samples))
        assert got == {"stats": summarize(samples), "throughput": throughput(samples)}


def test_native_report_is_valid_and_bench_reads_it(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from amf_edge.bench.native import beside

    probe("report", tmp_path / "report.json")
    report = json.loads((tmp_path / "report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert report["tool"] == {"name": "amf-edge", "version": report["tool"]["version"], "implementation": "native"}
    model = report["models"][0]
    only = model["backend_only"]
    assert only["timer"] == "cuda-events" and only["latency_ms"] == summarize([0.86, 0.88, 0.86, 0.87])
    assert only["host_ms"] == summarize([0.9, 0.95, 0.91, 0.93]) and only["samples_ms"] == [0.86, 0.88, 0.86, 0.87]
    assert only["throughput_fps"] == throughput([0.9, 0.95, 0.91, 0.93])
    assert model["ratios"]["backend_only_p50"] == 1.0 and model["end_to_end"] is None
    host = report["environment"]["host"]
    assert host["cores_logical"] >= host["cores_usable"] >= 1 and host["machine"]
    python_model = {"backend_only": {"latency_ms": {"p50": 1.2}}, "end_to_end": {"throughput_fps": 500.0}}
    ratios = beside(report, python_model)["python_over_native"]
    assert ratios["backend_only_p50"] == round(1.2 / only["latency_ms"]["p50"], 4)


@pytest.mark.skipif(not TOOL.is_file(), reason=f"{TOOL} is built only where TensorRT is installed")
def test_the_tool_checks_its_files_before_the_gpu_and_fails_in_one_line(tmp_path, make_bundle):
    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=60)

    bundle = make_bundle(tmp_path)
    for args, message in (((tmp_path / "none.engine", "--frames", tmp_path), "no such engine file"),
                          ((bundle.engine_path, "--frames", tmp_path), "no frames manifest"),
                          ((bundle.engine_path, "--frames", tmp_path, "--iters", "0"), "--iters must be at least 1")):
        done = run(*args)
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert run("--help").stdout.startswith("usage: amf-edge-bench-native ENGINE --frames DIR")
