"""`amf-edge build`: the command against a stand-in TensorRT (tests/trt_standin.py) and a pretend GPU.

The conformance test covers the TensorRT calls for every version; this covers what a user sees: the
skip/rebuild messages on stdout, and every wrong input as exit 1 with a message that says what to do.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import trt_standin as ts

from amf_edge.bundle import read_bundle
from amf_edge.cli.main import main
from amf_edge.contract import ModelContract

ROOT = Path(__file__).resolve().parents[2]
CALIB_SET = ROOT / "calib_data" / "synthetic-240x320"
H, W = 60, 80


@pytest.fixture
def gpu(monkeypatch):
    """Install a stand-in TensorRT 10.16 and a desktop GPU; returns a function that switches them."""
    def use(version: str = "10.16.1.11", device=ts.RTX_4090, **world):
        module = ts.make_world(ts.load_surface(version), cuda=ts.FakeCuda(device), io=ts.default_io(H, W), **world)
        monkeypatch.setitem(sys.modules, "tensorrt", module)
        monkeypatch.setattr("amf_edge.convert.build.query_device", lambda: device)
        return module

    use()
    return use


@pytest.fixture
def onnx_path(tmp_path):
    return ts.write_onnx(tmp_path / "m.onnx", height=H, width=W)


def build(capsys, *args):
    code = main(["build", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["build", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for flag in ("--workspace", "--opt-level", "--timing-cache", "--dla", "--version-compatible", "--hardware-compat",
                 "--fp16", "--int8", "--calib", "--force", "TensorRT 10 only", "amf-edge build r18.onnx -o r18.engine"):
        assert flag in out, flag


def test_build_then_skip_then_rebuild_on_change(gpu, onnx_path, tmp_path, capsys):
    engine = tmp_path / "m.engine"
    code, out, err = build(capsys, onnx_path, "-o", engine)
    assert code == 0, err
    assert out.startswith(f"building {engine} from {onnx_path} (no engine bundle yet): "
                          "TensorRT 10.16.1.11, NVIDIA GeForce")
    assert "built " in out and "per-layer report m.engine.layers.json" in out
    assert "Building engine (2 steps)" in err  # the builder's progress goes to stderr
    bundle = read_bundle(engine)
    assert ModelContract.from_metadata(bundle.metadata).height == H

    code, out, _ = build(capsys, onnx_path, "-o", engine)
    assert code == 0 and out.strip() == (f"{engine} is up to date (same ONNX, TensorRT 10.16.1.11, "
                                         "NVIDIA GeForce RTX 4090 (compute capability 8.9), fp32, same options): "
                                         "not rebuilt; --force rebuilds it")

    code, out, _ = build(capsys, onnx_path, "-o", engine, "--opt-level", "5")
    assert code == 0 and "(changed: options.opt_level null → 5)" in out
    code, out, _ = build(capsys, onnx_path, "-o", engine, "--opt-level", "5", "--force")
    assert code == 0 and "(--force)" in out

    ts.write_onnx(onnx_path, height=H, width=W, outputs=("labels",), channel_order="BGR")  # a re-export
    code, out, _ = build(capsys, onnx_path, "-o", engine, "--opt-level", "5")
    assert code == 0 and "(changed: onnx_sha256 " in out

    gpu("10.3.0", ts.ORIN)
    code, out, _ = build(capsys, onnx_path, "-o", engine, "--opt-level", "5")
    assert code == 0 and 'gpu.name "NVIDIA GeForce RTX 4090" → "NVIDIA Jetson AGX Orin"' in out
    assert 'tensorrt "10.16.1.11" → "10.3.0"' in out


def test_timing_cache_is_per_tensorrt_version_and_gpu(gpu, onnx_path, tmp_path, capsys):
    cache = tmp_path / "timing.cache"
    assert build(capsys, onnx_path, "-o", tmp_path / "a.engine", "--timing-cache", cache)[0] == 0
    assert cache.read_bytes().startswith(b'AMF-EDGE-TIMING-CACHE {"tensorrt": "10.16.1.11", '
                                         b'"gpu": "NVIDIA GeForce RTX 4090"')
    gpu("10.16.1.11", ts.ORIN)
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "b.engine", "--timing-cache", cache)
    assert code == 1 and "holds timings of TensorRT 10.16.1.11 on NVIDIA GeForce RTX 4090 (8.9)" in err
    assert "pass another --timing-cache file" in err and "Traceback" not in err
    (tmp_path / "trtexec.cache").write_bytes(b"\x00\x01binary")
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "b.engine", "--timing-cache", tmp_path / "trtexec.cache")
    assert code == 1 and "is not an amf-edge timing cache" in err


def test_legacy_int8_with_a_calibration_set_on_tensorrt_10(gpu, onnx_path, tmp_path, capsys, monkeypatch):
    module = gpu("10.3.0")
    uploads: list = []
    monkeypatch.setattr("amf_edge.convert.calibrator._device_arrays", lambda: ts.FakeDeviceArray.with_log(uploads))
    calib = tmp_path / "calib"
    shutil.copytree(CALIB_SET, calib)
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "i.engine", "--int8", "--fp16", "--calib", calib)
    assert code == 0, err
    # every frame of the set, resized to the model's size, rgb and depth as float32
    assert len(module.standin.state["calibration_batches"]) == 16 and uploads[:2] == [H * W * 3 * 4, H * W * 4]
    bundle = read_bundle(tmp_path / "i.engine")
    assert bundle.precision == "int8" and bundle.options["calibration"]["path"] == str(calib)
    assert len(list(tmp_path.glob("i.engine.calib-*.cache"))) == 1
    assert "up to date" in build(capsys, onnx_path, "-o", tmp_path / "i.engine", "--int8", "--fp16",
                                 "--calib", calib)[1]

    frame = next((calib / "frames").glob("000003_rgb.png"))  # a changed set is refused, not silently reused
    frame.write_bytes(frame.read_bytes()[:-10] + b"0" * 10)
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "i.engine", "--int8", "--calib", calib)
    assert code == 1 and "was changed after it was written" in err


@pytest.mark.parametrize("args, version, device, message", [
    (["--int8"], "10.16.1.11", ts.RTX_4090, "--int8 needs a calibration set: --calib calib_data/NAME"),
    (["--int8", "--calib", "calib_data/nope"], "10.16.1.11", ts.RTX_4090,
     "calibration set calib_data/nope does not exist"),
    (["--calib", str(CALIB_SET)], "10.16.1.11", ts.RTX_4090, "is only used by --int8"),
    (["--fp16"], "11.4.0.106", ts.RTX_4090, ("`amf-edge quantize FP32.onnx --precision fp16 -o m.fp16.onnx`, then "
                                             "`amf-edge build m.fp16.onnx -o m.fp16.engine`")),
    (["--int8", "--calib", str(CALIB_SET)], "11.4.0.106", ts.RTX_4090, "builds strongly typed networks only"),
    (["--hardware-compat", "ampere+"], "10.3.0", ts.ORIN,
     "this is NVIDIA Jetson AGX Orin (compute capability 8.7) (integrated)"),
    (["--hardware-compat", "ampere+", "--dla", "0"], "10.16.1.11", ts.RTX_4090, "exclude each other"),
    (["--dla", "0"], "10.3.0", ts.ORIN, "DLA runs FP16 and INT8 layers only"),
    (["--workspace", "0"], "10.16.1.11", ts.RTX_4090, "--workspace must be a positive number of MiB, got 0"),
])
def test_wrong_inputs_exit_1_with_what_to_do(gpu, onnx_path, tmp_path, capsys, args, version, device, message):
    gpu(version, device)
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "x.engine", *args)
    assert code == 1 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "x.engine").exists()


def test_foreign_or_missing_onnx_files(gpu, tmp_path, capsys):
    code, _, err = build(capsys, tmp_path / "none.onnx", "-o", tmp_path / "x.engine")
    assert code == 1 and "no such ONNX file; make one with `amf-edge export" in err
    import onnx

    plain = tmp_path / "plain.onnx"
    model = onnx.load(str(ts.write_onnx(plain, height=H, width=W)))
    del model.metadata_props[:]
    onnx.save(model, str(plain))
    code, _, err = build(capsys, plain, "-o", tmp_path / "x.engine")
    assert code == 1 and "has no amf-edge metadata; export it with `amf-edge export`" in err


def test_dynamic_onnx_is_refused(gpu, tmp_path, capsys):
    onnx_path = ts.write_onnx(tmp_path / "dyn.onnx", height=H, width=W, dynamic=True)
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "x.engine")
    assert code == 1 and "has symbolic N, H and W" in err and "without --dynamic" in err


def test_int8_cpu_onnx_is_refused(gpu, tmp_path, capsys):
    onnx_path = ts.write_onnx(tmp_path / "cpu.onnx", height=H, width=W, precision="int8-cpu")
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "x.engine")
    assert code == 1 and "int8-cpu flavour" in err
    assert "`amf-edge quantize FP32.onnx --precision int8 --calib calib_data/NAME -o cpu.int8.onnx`" in err


def test_a_failed_build_leaves_no_bundle(gpu, onnx_path, tmp_path, capsys):
    gpu(build_fails=True)
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "x.engine")
    assert code == 1 and "could not build" in err
    assert not list(tmp_path.glob("x.engine*"))


def test_missing_tensorrt_says_what_to_install(onnx_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as if not installed
    code, _, err = build(capsys, onnx_path, "-o", tmp_path / "x.engine")
    assert code == 1 and ("this needs the Python module 'tensorrt' (building TensorRT engines): "
                          "pip install tensorrt") in err
