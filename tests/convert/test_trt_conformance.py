"""The TensorRT build path and backend against the exact Python API of TensorRT 10.3, 10.16 and 11.4.

No TensorRT here: convert/build.py and runtime/backends/trt.py run against stand-in `tensorrt` modules
generated from tests/data/trt_api/*.json (tests/trt_standin.py), and a stand-in CUDA layer. A name the
code uses that a version lacks, or a call whose arguments do not fit that version's signatures, fails
the run for that version. A meta-test removes, one at a time, every name a run looked up and shows the
run then fails, so none of them is optional. An AST check covers what the runs do not reach: every
`trt.X.y` in both files, and every method or property used on a TensorRT object whose type follows from
the signatures, must exist in each version where that code runs (functions named `_legacy_*` run on
10.x only). Real TensorRT and a GPU: the `trt`-marked tests at the end.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import trt_standin as ts

from amf_edge.bundle import read_bundle
from amf_edge.contract import ModelContract
from amf_edge.errors import AmfEdgeError

ROOT = Path(__file__).resolve().parents[2]
BUILD_PY = ROOT / "convert" / "build.py"
CALIBRATOR_PY = ROOT / "convert" / "calibrator.py"
BACKEND_PY = ROOT / "runtime" / "backends" / "trt.py"
CODE = (str(BUILD_PY), str(CALIBRATOR_PY), str(BACKEND_PY))
LEGACY_VERSIONS = tuple(v for v in ts.VERSIONS if v.startswith("10."))
SURFACES = {v: ts.load_surface(v) for v in ts.VERSIONS}
H, W = 48, 64


@pytest.fixture
def onnx_path(tmp_path):
    return ts.write_onnx(tmp_path / "m.onnx", height=H, width=W)


def stand_in(monkeypatch, surface, device=ts.RTX_4090, **world):
    """Install a stand-in TensorRT built from `surface` and a fake GPU; returns (module, FakeCuda)."""
    cuda = ts.FakeCuda(device)
    module = ts.make_world(surface, cuda=cuda, io=ts.default_io(H, W), **world)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr("amf_edge.convert.build.query_device", lambda: device)
    return module, cuda


def build(onnx, engine, options=None, **kw):
    from amf_edge.convert.build import build_engine
    from amf_edge.convert.build_options import BuildOptions

    lines = []
    kw.setdefault("progress", io.StringIO())
    result = build_engine(onnx, engine, options or BuildOptions(), log=lines.append, **kw)
    return result, lines


def flag_set(module, flags: int, name: str) -> bool:
    return bool(flags & (1 << int(getattr(module.NetworkDefinitionCreationFlag, name))))


def run_scenario(monkeypatch, tmp_path, surface, *, legacy: bool) -> tuple:
    """Everything the code does with TensorRT on one surface: a strongly typed build with every option
    for a desktop GPU, a DLA build on a Jetson, on 10.x a legacy FP16+INT8 build with calibration, then
    the backend (pipelined, CUDA graphs) on the first bundle."""
    from amf_edge.convert.build_options import BuildOptions
    from amf_edge.convert.calibrator import Calibration
    from amf_edge.runtime.backends.trt import TensorRTBackend

    module, cuda = stand_in(monkeypatch, surface, dla_cores=2)
    tmp_path.mkdir(parents=True, exist_ok=True)
    onnx = ts.write_onnx(tmp_path / "s.onnx", height=H, width=W)
    options = BuildOptions(workspace_mib=256, opt_level=4, version_compatible=True, hardware_compat="ampere+")
    result, _ = build(onnx, tmp_path / "s.engine", options, timing_cache=tmp_path / "s.timing")
    if legacy:
        monkeypatch.setattr("amf_edge.convert.calibrator._device_arrays", lambda: ts.FakeDeviceArray)
        frames = [{"rgb": np.zeros((1, H, W, 3), np.uint8), "depth": np.ones((1, H, W), np.float32)}]
        calib = Calibration(tmp_path / "set", "c" * 64, lambda contract: iter(frames))
        build(onnx, tmp_path / "l.engine", BuildOptions(fp16=True, int8=True), calibration=calib)
    monkeypatch.setattr("amf_edge.convert.build.query_device", lambda: ts.ORIN)
    half = ts.write_onnx(tmp_path / "h.onnx", height=H, width=W, precision="fp16")
    build(half, tmp_path / "d.engine", BuildOptions(dla_core=0))
    with TensorRTBackend(result.bundle.engine_path, cuda=cuda, max_in_flight=2, cuda_graph=True) as backend:
        frame = {"rgb": np.full((1, H, W, 3), 200, np.uint8), "depth": np.full((1, H, W), 2.0, np.float32)}
        out = backend.infer(frame)
    assert (out["labels"] == ts.fake_labels(frame["rgb"], frame["depth"])).all()
    return module, cuda


# --- the build path ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_strongly_typed_build_with_every_option(monkeypatch, tmp_path, onnx_path, version):
    from amf_edge.convert.build_options import BuildOptions

    trt, _ = stand_in(monkeypatch, SURFACES[version])
    progress = io.StringIO()
    options = BuildOptions(workspace_mib=512, opt_level=5, version_compatible=True, hardware_compat="ampere+")
    result, lines = build(onnx_path, tmp_path / "m.engine", options, timing_cache=tmp_path / "t.cache",
                          progress=progress)

    (network_call,) = trt.standin.called("Builder.create_network")
    flags = network_call.args[0]
    assert (flag_set(trt, flags, "STRONGLY_TYPED")
            and flags == 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    assert "NetworkDefinitionCreationFlag.EXPLICIT_BATCH" not in trt.standin.accessed  # implied in 10, gone in 11
    (pool,) = trt.standin.called("IBuilderConfig.set_memory_pool_limit")
    assert pool.args == (trt.MemoryPoolType.WORKSPACE, 512 << 20)
    sets = {c.name: c.args[0] for c in trt.standin.calls if c.name.endswith("=")}
    assert sets["IBuilderConfig.builder_optimization_level="] == 5
    assert sets["IBuilderConfig.profiling_verbosity="] is trt.ProfilingVerbosity.DETAILED
    assert sets["IBuilderConfig.hardware_compatibility_level="] is trt.HardwareCompatibilityLevel.AMPERE_PLUS
    assert isinstance(sets["IBuilderConfig.progress_monitor="], trt.IProgressMonitor)
    assert sets["Runtime.engine_host_code_allowed="] is True  # the inspector loads a version-compatible plan
    assert [c.args[0] for c in trt.standin.called("IBuilderConfig.set_flag")] == [trt.BuilderFlag.VERSION_COMPATIBLE]
    assert "Building engine (2 steps)" in progress.getvalue() and "Tactics: 1/5" in progress.getvalue()
    assert "BuilderFlag.FP16" not in trt.standin.accessed and "BuilderFlag.INT8" not in trt.standin.accessed

    bundle = read_bundle(tmp_path / "m.engine")
    assert bundle.precision == "fp32" and bundle.tensorrt == version and bundle.device == ts.RTX_4090
    assert (tmp_path / "m.engine").read_bytes() == b"fake-plan"
    report = json.loads((tmp_path / "m.engine.layers.json").read_text())
    assert report == ts.LAYERS and result.layer_precisions == {"fp16": 1, "int8": 1, "uint8": 1, "fp32": 1}
    assert lines[-1].startswith(f"built {tmp_path / 'm.engine'}") and "4 layers (" in lines[-1]
    cache = (tmp_path / "t.cache").read_bytes()
    assert cache.startswith(b"AMF-EDGE-TIMING-CACHE ") and f'"tensorrt": "{version}"'.encode() in cache


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_timing_cache_is_loaded_into_the_next_build(monkeypatch, tmp_path, onnx_path, version):
    from amf_edge.convert.build_options import BuildOptions

    trt, _ = stand_in(monkeypatch, SURFACES[version])
    build(onnx_path, tmp_path / "a.engine", timing_cache=tmp_path / "t.cache")
    body = (tmp_path / "t.cache").read_bytes().partition(b"\n")[2]
    build(onnx_path, tmp_path / "b.engine", BuildOptions(opt_level=1), timing_cache=tmp_path / "t.cache")
    created = trt.standin.called("IBuilderConfig.create_timing_cache")
    assert [bytes(c.args[0]) for c in created] == [b"", body]
    # mismatches are errors
    assert all(c.args[1] is False for c in trt.standin.called("IBuilderConfig.set_timing_cache"))


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_dla_with_gpu_fallback(monkeypatch, tmp_path, version):
    from amf_edge.convert.build_options import BuildOptions

    trt, _ = stand_in(monkeypatch, SURFACES[version], device=ts.ORIN, dla_cores=2)
    onnx = ts.write_onnx(tmp_path / "h.onnx", height=H, width=W, precision="fp16")
    build(onnx, tmp_path / "d.engine", BuildOptions(dla_core=1))
    sets = {c.name: c.args[0] for c in trt.standin.calls if c.name.endswith("=")}
    assert sets["IBuilderConfig.default_device_type="] is trt.DeviceType.DLA and sets["IBuilderConfig.DLA_core="] == 1
    assert trt.BuilderFlag.GPU_FALLBACK in [c.args[0] for c in trt.standin.called("IBuilderConfig.set_flag")]
    with pytest.raises(AmfEdgeError, match="has DLA cores 0–1"):
        build(onnx, tmp_path / "e.engine", BuildOptions(dla_core=2))


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_dla_on_a_gpu_without_dla_cores_is_an_error(monkeypatch, tmp_path, version):
    from amf_edge.convert.build_options import BuildOptions

    stand_in(monkeypatch, SURFACES[version], device=ts.RTX_4090, dla_cores=0)
    onnx = ts.write_onnx(tmp_path / "h.onnx", height=H, width=W, precision="fp16")
    with pytest.raises(AmfEdgeError, match="has no DLA cores"):
        build(onnx, tmp_path / "d.engine", BuildOptions(dla_core=0))
    assert not (tmp_path / "d.engine").exists()


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_legacy_fp16_and_int8_on_10x(monkeypatch, tmp_path, onnx_path, version):
    from amf_edge.convert.build_options import BuildOptions
    from amf_edge.convert.calibrator import Calibration

    trt, _ = stand_in(monkeypatch, SURFACES[version])
    uploads = []
    monkeypatch.setattr("amf_edge.convert.calibrator._device_arrays", lambda: ts.FakeDeviceArray.with_log(uploads))
    frames = [{"rgb": np.full((1, H, W, 3), i, np.uint8), "depth": np.full((1, H, W), i / 10, np.float32)}
              for i in range(3)]
    calib = Calibration(tmp_path / "set", "f" * 64, lambda contract: iter(frames))
    result, _ = build(onnx_path, tmp_path / "i.engine", BuildOptions(fp16=True, int8=True), calibration=calib)

    (network_call,) = trt.standin.called("Builder.create_network")
    assert network_call.args[0] == 0  # weakly typed: TensorRT picks the precisions
    assert ([c.args[0] for c in trt.standin.called("IBuilderConfig.set_flag")]
            == [trt.BuilderFlag.FP16, trt.BuilderFlag.INT8])
    calibrator = trt.standin.state["calibrator"]
    assert isinstance(calibrator, trt.IInt8EntropyCalibrator2)
    assert (len(trt.standin.state["calibration_batches"]) == 3
            and all(len(p) == 2 for p in trt.standin.state["calibration_batches"]))
    # calibration reads every non-index input as float32, rgb included: 4 bytes per value
    assert uploads[:2] == [H * W * 3 * 4, H * W * 4]
    caches = list(tmp_path.glob("i.engine.calib-*.cache"))
    assert len(caches) == 1 and caches[0].read_bytes().startswith(b"TRT-")
    assert result.bundle.precision == "int8" and result.bundle.metadata["precision"] == "int8"
    assert result.bundle.options["calibration"] == {"path": str(tmp_path / "set"), "sha256": "f" * 64}

    # a rebuild reuses the calibration cache: TensorRT reads it and asks for no frames
    trt.standin.state.clear()
    build(onnx_path, tmp_path / "i.engine", BuildOptions(fp16=True, int8=True), calibration=calib, force=True)
    assert (trt.standin.state["calibration_cache_read"].startswith(b"TRT-")
            and "calibration_batches" not in trt.standin.state)


@pytest.mark.parametrize("version", LEGACY_VERSIONS)
def test_calibration_problems_surface_as_errors(monkeypatch, tmp_path, onnx_path, version):
    from amf_edge.convert.build_options import BuildOptions
    from amf_edge.convert.calibrator import Calibration

    stand_in(monkeypatch, SURFACES[version])
    monkeypatch.setattr("amf_edge.convert.calibrator._device_arrays", lambda: ts.FakeDeviceArray.with_log([]))
    empty = Calibration(tmp_path / "empty", "0" * 64, lambda contract: iter([]))
    with pytest.raises(AmfEdgeError, match="yielded no frames"):
        build(onnx_path, tmp_path / "e.engine", BuildOptions(int8=True), calibration=empty)
    wrong = Calibration(tmp_path / "small", "1" * 64, lambda contract: iter([
        {"rgb": np.zeros((1, 8, 8, 3), np.uint8), "depth": np.zeros((1, 8, 8), np.float32)}]))
    with pytest.raises(AmfEdgeError, match=r"rgb is uint8 \(1, 8, 8, 3\), the model takes uint8 \(1, 48, 64, 3\)"):
        build(onnx_path, tmp_path / "w.engine", BuildOptions(int8=True), calibration=wrong)
    assert not (tmp_path / "w.engine").exists()


@pytest.mark.parametrize("options", [{"int8": True}, {"fp16": True}])
def test_11x_rejects_the_legacy_path_before_touching_builder_flags(monkeypatch, tmp_path, onnx_path, options):
    from amf_edge.convert.build_options import BuildOptions
    from amf_edge.convert.calibrator import Calibration

    trt, _ = stand_in(monkeypatch, SURFACES["11.4.0.106"])
    with pytest.raises(AttributeError):
        _ = trt.BuilderFlag.INT8  # what the code would hit if it went on
    trt.standin.accessed.clear()
    calib = Calibration(tmp_path / "set", "f" * 64, lambda contract: iter([]))
    with pytest.raises(AmfEdgeError) as e:
        build(onnx_path, tmp_path / "x.engine", BuildOptions(**options),
              calibration=calib if "int8" in options else None)
    target = "int8" if "int8" in options else "fp16"
    calib_arg = " --calib calib_data/NAME" if target == "int8" else ""
    assert f"`amf-edge quantize FP32.onnx --precision {target}{calib_arg} -o m.{target}.onnx`" in str(e.value)
    assert "strongly typed" in str(e.value)
    assert not any(name.startswith(("BuilderFlag", "Builder", "IBuilderConfig", "IInt8"))
                   for name in trt.standin.accessed)
    assert trt.standin.calls == []


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_precision_comes_from_the_onnx(monkeypatch, tmp_path, version):
    stand_in(monkeypatch, SURFACES[version])
    for precision in ("fp16", "int8"):
        onnx = ts.write_onnx(tmp_path / f"{precision}.onnx", height=H, width=W, precision=precision)
        result, _ = build(onnx, tmp_path / f"{precision}.engine")
        assert result.bundle.precision == precision and result.bundle.onnx["precision"] == precision
        assert ModelContract.from_metadata(result.bundle.metadata).precision == precision
    cpu = ts.write_onnx(tmp_path / "cpu.onnx", height=H, width=W, precision="int8-cpu")
    with pytest.raises(AmfEdgeError, match="int8-cpu flavour .* build the int8 variant"):
        build(cpu, tmp_path / "cpu.engine")


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_parser_errors_are_reported(monkeypatch, tmp_path, onnx_path, version):
    stand_in(monkeypatch, SURFACES[version], parse_errors=("Unsupported operator Foo",))
    with pytest.raises(AmfEdgeError, match=r"ONNX parser rejected .*Unsupported operator Foo \(node 7\)"):
        build(onnx_path, tmp_path / "p.engine")


# --- the backend --------------------------------------------------------------------------------------------


def built_bundle(monkeypatch, tmp_path, version, **world):
    trt, cuda = stand_in(monkeypatch, SURFACES[version], **world)
    onnx = ts.write_onnx(tmp_path / "b.onnx", height=H, width=W)
    result, _ = build(onnx, tmp_path / "b.engine")
    return trt, cuda, result.bundle


def frame(value: int, depth: float) -> dict[str, np.ndarray]:
    rgb = np.random.default_rng(value).integers(0, 256, (1, H, W, 3), dtype=np.uint8)
    return {"rgb": rgb, "depth": np.full((1, H, W), depth, np.float32)}


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_backend_name_based_io_and_results(monkeypatch, tmp_path, version):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    trt, cuda, bundle = built_bundle(monkeypatch, tmp_path, version)
    with TensorRTBackend(bundle.engine_path, cuda=cuda) as backend:
        assert backend.inputs == {"rgb": ((1, H, W, 3), np.dtype(np.uint8)), "depth": ((1, H, W), np.dtype(np.float32))}
        assert backend.contract.height == H and backend.contract.outputs == ("labels",)
        for i in range(3):
            x = frame(i, 0.5 + i)
            out = backend.infer(x)
            assert list(out) == ["labels"] and (out["labels"] == ts.fake_labels(x["rgb"], x["depth"])).all()
        with pytest.raises(AmfEdgeError, match=r"rgb: expected uint8 \(1, 48, 64, 3\), got float32"):
            backend.submit({"rgb": np.zeros((1, H, W, 3), np.float32), "depth": x["depth"]})
        info = backend.describe()
    assert info["tensorrt"] == version and info["device"] == ts.RTX_4090.name and info["backend"] == "tensorrt"
    used = trt.standin.used_by(str(BACKEND_PY))
    assert {"ICudaEngine.num_io_tensors", "ICudaEngine.get_tensor_name", "ICudaEngine.get_tensor_mode",
            "ICudaEngine.get_tensor_shape", "ICudaEngine.get_tensor_dtype", "IExecutionContext.set_tensor_address",
            "IExecutionContext.execute_async_v3"} <= used
    assert not any("binding" in name for name in used)
    assert cuda.freed  # close() released the CUDA layer
    mallocs = [entry for entry in cuda.log if entry[0] == "malloc"]
    assert len(mallocs) == 1 + 2 * 2  # one output, two slots of (rgb, depth): allocated once, not per frame


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_backend_pipelines_two_frames(monkeypatch, tmp_path, version):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    _, cuda, bundle = built_bundle(monkeypatch, tmp_path, version)
    backend = TensorRTBackend(bundle.engine_path, cuda=cuda, max_in_flight=2)
    a, b, c = frame(1, 0.5), frame(2, 3.0), frame(3, 1.5)
    backend.submit(a)
    start = len(cuda.log)
    backend.submit(b)  # frame N+1 goes up while frame N is in flight
    with pytest.raises(AmfEdgeError, match="not yet collected"):
        backend.submit(c)
    ops = [op for op in cuda.log[start:] if op[0] != "record"]
    copy_stream = backend._copy.id
    assert ops[0] == ("h2d", copy_stream, backend._slots[1].device_in["rgb"])  # slot 2, on the copy stream
    assert not any(op[0] == "synchronize" for op in ops)  # nothing waited for frame N
    assert (backend.collect()["labels"] == ts.fake_labels(a["rgb"], a["depth"])).all()
    assert (backend.collect()["labels"] == ts.fake_labels(b["rgb"], b["depth"])).all()
    with pytest.raises(AmfEdgeError, match="collect\\(\\) without a submit"):
        backend.collect()
    backend.close()
    backend.close()  # idempotent


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_backend_times_copies_and_compute_with_device_events(monkeypatch, tmp_path, cuda_graph):
    """The fake device clock charges 1 ms per upload, 5 ms per kernel and 0.25 ms per download: the
    events must bracket exactly the two uploads, the one inference and the one download."""
    from amf_edge.runtime.backends.trt import TensorRTBackend

    _, cuda, bundle = built_bundle(monkeypatch, tmp_path, ts.VERSIONS[-1])
    with TensorRTBackend(bundle.engine_path, cuda=cuda, cuda_graph=cuda_graph) as backend:
        assert backend.device_timing_ms() is None  # nothing collected yet
        backend.infer(frame(1, 1.0))
        assert backend.device_timing_ms() == {"upload": 2.0, "compute": 5.0, "download": 0.25,
                                              "latency": 7.25}
        assert backend.device_memory_bytes > 0  # the buffers it allocated, seen as free memory gone


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_backend_default_is_one_in_flight(monkeypatch, tmp_path, version):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    _, cuda, bundle = built_bundle(monkeypatch, tmp_path, version)
    with TensorRTBackend(bundle.engine_path, cuda=cuda) as backend:
        backend.submit(frame(1, 1.0))
        with pytest.raises(AmfEdgeError, match="max_in_flight=1"):
            backend.submit(frame(2, 1.0))


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_backend_cuda_graphs(monkeypatch, tmp_path, version):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    trt, cuda, bundle = built_bundle(monkeypatch, tmp_path, version)
    with TensorRTBackend(bundle.engine_path, cuda=cuda, cuda_graph=True) as backend:
        captures = [op for op in cuda.log if op[0] == "end_capture"]
        assert len(captures) == 2 and all(op[2] == 1 for op in captures)  # one execute per slot's graph
        executes = len(trt.standin.called("IExecutionContext.execute_async_v3"))
        for i in range(4):
            x = frame(i, 0.25 * i)
            assert (backend.infer(x)["labels"] == ts.fake_labels(x["rgb"], x["depth"])).all()
        assert len(trt.standin.called("IExecutionContext.execute_async_v3")) == executes  # graphs, not enqueues
        assert sum(op[0] == "launch" for op in cuda.log) == 4
    without = ts.FakeCuda(ts.RTX_4090, supports_graphs=False)
    with pytest.raises(AmfEdgeError, match="without graphs"):
        TensorRTBackend(bundle.engine_path, cuda=without, cuda_graph=True)
    assert without.freed


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_backend_refuses_an_engine_for_another_gpu_or_version(monkeypatch, tmp_path, version):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    _, _, bundle = built_bundle(monkeypatch, tmp_path, version)
    other = ts.FakeCuda(ts.ORIN)
    with pytest.raises(AmfEdgeError, match="on NVIDIA GeForce RTX 4090 .* on NVIDIA Jetson AGX Orin .* GPU differs"):
        TensorRTBackend(bundle.engine_path, cuda=other)
    assert other.freed
    newer = dict(SURFACES[version], version="12.0.0")
    module = ts.make_world(newer, cuda=ts.FakeCuda(ts.RTX_4090), io=ts.default_io(H, W))
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    with pytest.raises(AmfEdgeError,
                       match=f"built for TensorRT {version} on .* this is TensorRT 12.0.0 .*amf-edge build"):
        TensorRTBackend(bundle.engine_path, cuda=ts.FakeCuda(ts.RTX_4090))


def test_backend_without_tensorrt_says_what_to_install(monkeypatch, tmp_path):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    monkeypatch.setitem(sys.modules, "tensorrt", None)  # as where it is not installed
    with pytest.raises(AmfEdgeError,
                       match="needs the Python module 'tensorrt' .*JetPack: sudo apt install python3-libnvinfer"):
        TensorRTBackend(tmp_path / "m.engine", cuda=ts.FakeCuda(ts.RTX_4090))


def test_backend_refuses_an_engine_replaced_after_the_build(monkeypatch, tmp_path):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    _, cuda, bundle = built_bundle(monkeypatch, tmp_path, "10.3.0")
    bundle.engine_path.write_bytes(b"another plan")
    with pytest.raises(AmfEdgeError, match="is not the engine its sidecar describes .* --force`"):
        TensorRTBackend(bundle.engine_path, cuda=cuda)


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_backend_checks_the_engine_against_the_contract(monkeypatch, tmp_path, version):
    from amf_edge.runtime.backends.trt import TensorRTBackend

    io_ = ts.default_io(H, W)
    io_[1] = ts.TensorSpec("depth", (1, H, W), "HALF", True)
    io_[2] = ts.TensorSpec("labels", (-1, H, W), "UINT8", False)
    _, cuda, bundle = built_bundle(monkeypatch, tmp_path, version)
    module = ts.make_world(SURFACES[version], cuda=cuda, io=io_)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    with pytest.raises(AmfEdgeError,
                       match=r"depth is float16 .* contract says float32 .*dynamic shapes in \['labels'\]"):
        TensorRTBackend(bundle.engine_path, cuda=cuda)


# --- every name is load-bearing -------------------------------------------------------------------------------


def without(surface: dict, name: str) -> dict:
    s = copy.deepcopy(surface)
    del s["api"][name]
    s["signatures"].pop(name, None)
    if "." not in name:  # a class: its members go with it
        for key in [k for k in s["api"] if k.startswith(name + ".")]:
            del s["api"][key]
    return s


@pytest.mark.parametrize("version,legacy", [("10.3.0", True), ("11.4.0.106", False)])
def test_removing_any_name_the_code_uses_fails_the_run(monkeypatch, tmp_path, version, legacy):
    module, _ = run_scenario(monkeypatch, tmp_path / "ok", SURFACES[version], legacy=legacy)
    used = sorted(module.standin.used_by(*CODE))
    assert len(used) > 40, used
    survivors, failures = [], {}
    for i, name in enumerate(used):
        with monkeypatch.context() as m:
            try:
                run_scenario(m, tmp_path / f"cut{i}", without(SURFACES[version], name), legacy=legacy)
            except (AttributeError, TypeError, AmfEdgeError, KeyError) as e:
                failures[name] = f"{type(e).__name__}: {e}"
                continue
            survivors.append(name)
    assert survivors == [], f"the run did not need these names: {survivors}"
    # the failures name what went missing (AttributeError: ... has no attribute 'X', or no constructor)
    assert all(name.split(".")[-1] in why or "constructor" in why for name, why in failures.items()), failures


@pytest.mark.parametrize("name, sig", [
    ("IExecutionContext.execute_async_v3",
     "execute_async_v3(self: tensorrt.tensorrt.IExecutionContext, stream_handle: int, bindings: list) -> bool"),
    ("IBuilderConfig.set_memory_pool_limit",
     "set_memory_pool_limit(self: tensorrt.tensorrt.IBuilderConfig, pool: tensorrt.tensorrt.MemoryPoolType) -> None"),
    ("IProgressMonitor.phase_start",
     "phase_start(self: tensorrt.tensorrt.IProgressMonitor, phase_name: str) -> None"),
    ("IExecutionContext.set_tensor_address",
     "set_tensor_address(self: tensorrt.tensorrt.IExecutionContext, name: str, "
     "memory: tensorrt.tensorrt.IHostMemory) -> bool"),
])
def test_a_changed_signature_fails_the_run(monkeypatch, tmp_path, name, sig):
    surface = copy.deepcopy(SURFACES["10.16.1.11"])
    surface["signatures"][name] = [sig]
    with pytest.raises(TypeError, match=name.split(".")[1]):
        run_scenario(monkeypatch, tmp_path, surface, legacy=False)


# --- the static check ---------------------------------------------------------------------------------------

# Parameter names that hold TensorRT objects of one class in both files (functions that take them get
# their types from here; local variables get theirs from the signatures' return types).
CONVENTIONAL = {"builder": "Builder", "network": "INetworkDefinition", "config": "IBuilderConfig",
                "parser": "OnnxParser", "runtime": "Runtime", "engine": "ICudaEngine", "context": "IExecutionContext"}


def trt_uses(path: Path) -> list[tuple[str, int, bool]]:
    """(qualified name, line, legacy) for every TensorRT name in `path`: `trt.X`, `trt.X.y`, members of
    objects whose TensorRT class is known, and methods of Python subclasses of TensorRT classes."""
    surface = SURFACES["10.16.1.11"]  # only for return types, which agree across versions for what we use
    members = ts.classes(surface)
    found: list[tuple[str, int, bool]] = []

    def returns(cls: str, method: str) -> str | None:
        sigs = ts.signatures(surface, f"{cls}.{method}")
        return ts.annotation_class(sigs[0].returns) if sigs else None

    def visit(node: ast.AST, types: dict[str, str], legacy: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            legacy = legacy or node.name.startswith("_legacy")
            types = dict(types)
            if isinstance(node, ast.FunctionDef):
                types.update({a.arg: CONVENTIONAL[a.arg] for a in node.args.args if a.arg in CONVENTIONAL})
            else:
                for base in node.bases:
                    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id == "trt":
                        for item in node.body:  # overrides TensorRT calls: they must exist in the base class
                            if (isinstance(item, ast.FunctionDef)
                                    and (not item.name.startswith("_") or item.name == "__init__")):
                                found.append((f"{base.attr}.{item.name}", item.lineno, legacy))
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            cls = typeof(node.value, types)
            target = ast.unparse(node.targets[0])
            if cls is not None:
                types[target] = cls
        if isinstance(node, ast.Attribute):
            chain = ast.unparse(node)
            if chain.startswith("trt.") and chain.count(".") >= 1:
                parts = chain.split(".")
                found.append((".".join(parts[1:3]), node.lineno, legacy))
            else:
                owner = types.get(ast.unparse(node.value)) or typeof(node.value, types)
                if owner is not None:
                    found.append((f"{owner}.{node.attr}", node.lineno, legacy))
        for child in ast.iter_child_nodes(node):
            visit(child, types, legacy)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            return

    def typeof(value: ast.AST, types: dict[str, str]) -> str | None:
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            base = value.func.value
            if isinstance(base, ast.Name) and base.id == "trt" and value.func.attr in members:
                return value.func.attr
            owner = types.get(ast.unparse(base)) or typeof(base, types)  # chains: a.b().c()
            if owner is not None:
                return returns(owner, value.func.attr)
        return None

    tree = ast.parse(path.read_text())
    types: dict[str, str] = {}
    for node in ast.walk(tree):  # self.<attr> = <typed expression> anywhere in a class types it everywhere
        if isinstance(node, ast.FunctionDef):
            local = {a.arg: CONVENTIONAL[a.arg] for a in node.args.args if a.arg in CONVENTIONAL}
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
                    cls = typeof(sub.value, local)
                    target = ast.unparse(sub.targets[0])
                    if cls is not None:
                        local[target] = cls
                        if target.startswith("self."):
                            types[target] = cls
    visit(tree, types, False)
    return [(name, line, legacy) for name, line, legacy in found if name != "__version__"]


def static_problems(surfaces: dict[str, dict]) -> list[str]:
    problems = []
    for path in (BUILD_PY, CALIBRATOR_PY, BACKEND_PY):
        for name, line, legacy in trt_uses(path):
            for version, surface in surfaces.items():
                if legacy and not version.startswith("10."):
                    continue
                if name not in surface["api"]:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {name} is not in TensorRT {version}")
    return problems


def test_every_tensorrt_name_exists_where_its_code_runs():
    uses = trt_uses(BUILD_PY) + trt_uses(CALIBRATOR_PY) + trt_uses(BACKEND_PY)
    names = {n for n, _, _ in uses}
    # the check sees the names that matter, on objects as well as on the module
    assert {"NetworkDefinitionCreationFlag.STRONGLY_TYPED", "IBuilderConfig.set_memory_pool_limit",
            "IBuilderConfig.int8_calibrator", "BuilderFlag.INT8", "IInt8EntropyCalibrator2.get_batch",
            "IProgressMonitor.step_complete", "ICudaEngine.num_io_tensors", "IExecutionContext.execute_async_v3",
            "Builder.num_DLA_cores", "OnnxParser.num_errors", "EngineInspector.get_engine_information",
            "ITimingCache.serialize"} <= names
    assert {n for n, _, legacy in uses if legacy} >= {"BuilderFlag.FP16", "BuilderFlag.INT8",
                                                      "IBuilderConfig.int8_calibrator",
                                                      "IInt8EntropyCalibrator2.__init__",
                                                      "IInt8EntropyCalibrator2.get_batch"}
    assert static_problems(SURFACES) == []


def test_the_static_check_catches_a_missing_name():
    cut = {v: without(s, "BuilderFlag.GPU_FALLBACK") for v, s in SURFACES.items()}
    assert any("BuilderFlag.GPU_FALLBACK is not in TensorRT 10.3.0" in p for p in static_problems(cut))
    cut = {v: without(s, "IExecutionContext.execute_async_v3") for v, s in SURFACES.items()}
    assert any("execute_async_v3 is not in TensorRT 11.4.0.106" in p for p in static_problems(cut))
    # legacy code is checked against 10.x only: 11.x lacking BuilderFlag.INT8 is no problem, 10.x lacking it is
    assert not any("INT8" in p for p in static_problems(SURFACES))
    assert any("BuilderFlag.INT8 is not in TensorRT 10.16.1.11" in p
               for p in static_problems({"10.16.1.11": without(SURFACES["10.16.1.11"], "BuilderFlag.INT8")}))


def test_python_overrides_match_the_signatures_they_implement():
    """TensorRT calls our IProgressMonitor and calibrator methods with the surface's arguments."""
    import inspect

    import amf_edge.convert.build as build_module
    import amf_edge.convert.calibrator as calibrator_module

    for version in ts.VERSIONS:
        module = ts.make_tensorrt(SURFACES[version])
        overrides = [("IProgressMonitor", build_module._progress_monitor(module, io.StringIO()))]
        if version in LEGACY_VERSIONS:
            calib = calibrator_module.Calibration(Path("x"), "0" * 64, lambda c: iter([]))
            contract = ModelContract.from_metadata({
                "input_contract": {"rgb": {"shape": ["N", H, W, 3], "channel_order": "RGB"}, "outputs": ["labels"]},
                "labels": {"name": "x", "names": ["a"], "palette": [[0, 0, 0]]}})
            with pytest.MonkeyPatch.context() as m:
                m.setattr(calibrator_module, "_device_arrays", lambda: ts.FakeDeviceArray)
                overrides.append(("IInt8EntropyCalibrator2",
                                  calibrator_module._legacy_calibrator(module, calib, contract, Path("c"))))
        for cls, obj in overrides:
            own = {n: f for n, f in vars(type(obj)).items() if inspect.isfunction(f) and not n.startswith("_")}
            assert own, cls
            for name, method in own.items():
                if name not in ts.classes(SURFACES[version])[cls]:
                    continue  # our own helper (free), not called by TensorRT
                params = list(inspect.signature(method).parameters)[1:]
                expected = [p.name for p in ts.signatures(SURFACES[version], f"{cls}.{name}")[0].params]
                assert len(params) == len(expected), (version, cls, name, params, expected)


def test_surfaces_are_the_ones_named():
    for version, surface in SURFACES.items():
        assert surface["version"] == version and len(surface["api"]) > 2000 and surface["signatures"]
    assert "BuilderFlag.INT8" in SURFACES["10.3.0"]["api"] and "BuilderFlag.INT8" not in SURFACES["11.4.0.106"]["api"]


# --- the CUDA layer ---------------------------------------------------------------------------------------


def test_the_fake_cuda_layer_implements_the_interface():
    import inspect

    from amf_edge.runtime.cuda import Cuda

    for name, member in inspect.getmembers(Cuda, inspect.isfunction):
        if name.startswith("_"):
            continue
        fake = getattr(ts.FakeCuda, name, None)
        assert fake is not None, name
        assert len(inspect.signature(fake).parameters) == len(inspect.signature(member).parameters), name


@pytest.mark.parametrize("binding", ["cuda-python", "pycuda"])
def test_backend_on_the_real_cuda_layer_over_fake_bindings(monkeypatch, tmp_path, binding):
    """amf_edge.runtime.cuda.CudaPython and PyCuda themselves (chosen by open_cuda), over host-memory bindings."""
    import types

    import amf_edge.gpu as gpu_module
    import amf_edge.runtime.cuda as cuda_module
    from amf_edge.runtime.backends.trt import TensorRTBackend

    if binding == "cuda-python":
        rt, machine = ts.fake_cuda_python(ts.RTX_4090)
        monkeypatch.setattr(cuda_module, "cuda_python_runtime", lambda: rt)
        monkeypatch.setattr(gpu_module, "cuda_python_runtime", lambda: rt)
    else:
        drv, machine = ts.fake_pycuda(ts.RTX_4090)
        monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
        monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    monkeypatch.setenv("AMF_EDGE_CUDA", binding)
    trt = ts.make_world(SURFACES["10.16.1.11"], cuda=machine, io=ts.default_io(H, W))
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr("amf_edge.convert.build.query_device", lambda: ts.RTX_4090)
    bundle = build(ts.write_onnx(tmp_path / "c.onnx", height=H, width=W), tmp_path / "c.engine")[0].bundle

    graphs = binding == "cuda-python"
    with TensorRTBackend(bundle.engine_path, max_in_flight=2, cuda_graph=graphs) as backend:
        assert backend.cuda.name == binding and backend.describe()["cuda"] == binding
        frames = [frame(i, 0.7 * i) for i in range(5)]
        backend.submit(frames[0])
        results = []
        for x in frames[1:]:
            backend.submit(x)
            results.append(backend.collect())
        results.append(backend.collect())
    for x, out in zip(frames, results):
        assert (out["labels"] == ts.fake_labels(x["rgb"], x["depth"])).all()
    assert machine.live == set()  # every allocation, stream, event and graph released by close()
    if graphs:
        assert sum(op == "graph op" for op, _ in machine.log) >= 5
    else:
        with pytest.raises(AmfEdgeError, match="CUDA graphs need stream capture, which pycuda lacks"):
            TensorRTBackend(bundle.engine_path, cuda_graph=True)
        assert machine.live == set()


def test_the_cuda_python_calls_match_the_installed_package():
    """Names and argument counts of every cuda-python call in runtime/cuda.py and amf_edge/gpu.py, and of
    the fake used above, against the real cuda.bindings.runtime (binary wheel; imports without a driver)."""
    import inspect

    rt = pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed (pip install cuda-python)")

    def arity(name):
        first = (getattr(rt, name).__doc__ or "").strip().splitlines()[0]
        inner = first[first.index("(") + 1:first.rindex(")")].strip()
        return len([p for p in inner.split(",") if p.strip()]) if inner else 0

    calls = []
    for path in (ROOT / "runtime" / "cuda.py", ROOT / "amf_edge" / "gpu.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) in ("self.rt", "rt"):
                assert hasattr(rt, node.attr), f"{path.name}: cuda.bindings.runtime has no {node.attr}"
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and ast.unparse(node.func.value) in ("self.rt", "rt")):
                calls.append((node.func.attr, len(node.args)))
    assert len(calls) > 15
    for name, n in calls:
        assert n == arity(name), (name, n, arity(name))
    fake, _ = ts.fake_cuda_python()
    for name in dir(fake):
        if name.startswith("cuda") and inspect.isfunction(getattr(fake, name)):
            assert len(inspect.signature(getattr(fake, name)).parameters) == arity(name), name


# --- the real bindings, without TensorRT's libraries -------------------------------------------------------

REAL_BINDINGS_CHECK = r"""
import io, json, sys
from pathlib import Path
import numpy as np
sys.path[:0] = [sys.argv[1], sys.argv[3]]
trt = __import__(sys.argv[2])
sys.modules["tensorrt"] = trt
import amf_edge.convert.build as b
import amf_edge.convert.build_options as o
import amf_edge.convert.calibrator as c
from amf_edge.contract import ModelContract

r = {"version": trt.__version__}
try:
    trt.Builder(trt.Logger(trt.Logger.WARNING))
    r["builder"] = "constructed"
except TypeError as e:
    r["builder"] = str(e)  # the stub libraries return no builder: nothing of TensorRT runs
r["flags"] = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
out = io.StringIO()
monitor = b._progress_monitor(trt, out)
r["monitor"] = isinstance(monitor, trt.IProgressMonitor)
monitor.phase_start("Building engine", "", 2)
r["step"] = monitor.step_complete("Building engine", 0)
monitor.phase_finish("Building engine")
r["progress"] = out.getvalue()
try:
    o.check_tensorrt(o.BuildOptions(int8=True), trt.__version__, Path("m.onnx"))
    r["legacy"] = "accepted"
except Exception as e:
    r["legacy"] = str(e)
r["dtypes"] = len({trt.DataType.FLOAT: 1, trt.DataType.UINT8: 2, trt.DataType.HALF: 3})
if "IInt8EntropyCalibrator2" in dir(trt):  # the test may ask; the code under test never does
    class DeviceArray:
        @classmethod
        def raw(cls, shape):
            a = cls(); a.ptr = 4096 * (1 + len(sys.argv)); return a
        def copy_from(self, host): self.n = host.nbytes
        def free(self): pass
    c._device_arrays = lambda: DeviceArray
    contract = ModelContract.from_metadata({
        "input_contract": {"rgb": {"shape": ["N", 4, 4, 3], "channel_order": "RGB"}, "outputs": ["labels"]},
        "labels": {"name": "x", "names": ["a"], "palette": [[0, 0, 0]]}})
    frames = [{"rgb": np.zeros((1, 4, 4, 3), np.uint8), "depth": np.zeros((1, 4, 4), np.float32)}]
    cache = Path(sys.argv[4]) / "c.cache"
    cal = c._legacy_calibrator(trt, c.Calibration(Path("s"), "0" * 64, lambda c: iter(frames)), contract, cache)
    r["calibrator"] = isinstance(cal, trt.IInt8EntropyCalibrator2)
    r["algorithm"] = str(cal.get_algorithm())
    r["batch"] = [type(p).__name__ for p in cal.get_batch(["rgb", "depth"])]
    r["end"] = cal.get_batch(["rgb", "depth"])
    cal.write_calibration_cache(memoryview(b"TRT-cache"))
    r["cache"] = cal.read_calibration_cache().decode()
print(json.dumps(r))
"""


@pytest.mark.parametrize("version", ts.VERSIONS)
def test_python_subclasses_against_the_real_bindings(tmp_path, version):
    """With the public bindings wheel (AMF_EDGE_TRT_WHEELS=directory of tensorrt_cu12_bindings wheels; see
    scripts/trt_api_surface.py --version), import the real module against stub libraries and construct
    our IProgressMonitor and IInt8EntropyCalibrator2 subclasses: pybind11 trampolines, where a name list
    proves nothing (a missing base __init__ call only fails in the real module)."""
    import os
    import subprocess

    wheels = sorted(Path(os.environ.get("AMF_EDGE_TRT_WHEELS", "/nonexistent"))
                    .glob(f"tensorrt_cu12_bindings-{version}-*.whl"))
    if not wheels:
        pytest.skip(f"set AMF_EDGE_TRT_WHEELS to a directory with the tensorrt-cu12-bindings {version} wheel")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import trt_api_surface
    finally:
        sys.path.pop(0)
    unpacked, package, env = trt_api_surface.importable(wheels[-1], tmp_path)
    result = subprocess.run([sys.executable, "-c", REAL_BINDINGS_CHECK, str(unpacked), package, str(ROOT),
                             str(tmp_path)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    r = json.loads(result.stdout.strip().splitlines()[-1])
    assert r["version"] == version and "nullptr" in r["builder"]
    assert r["monitor"] and r["step"] is True and "Building engine (2 steps)" in r["progress"]
    # STRONGLY_TYPED is bit 1 in 10.x and bit 0 in 11.x (EXPLICIT_BATCH, bit 0, is gone): never hard-code it
    assert r["flags"] == (2 if version in LEGACY_VERSIONS else 1)
    assert r["dtypes"] == 3
    if version in LEGACY_VERSIONS:
        assert r["legacy"] == "accepted" and r["calibrator"] and r["algorithm"].endswith("ENTROPY_CALIBRATION_2")
        assert r["batch"] == ["int", "int"] and r["end"] is None and r["cache"] == "TRT-cache"
    else:
        assert "strongly typed networks only" in r["legacy"] and "calibrator" not in r


# --- real TensorRT on a GPU ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint (tests/conftest.py) exported at 64×80."""
    pytest.importorskip("torch")
    from amf_edge.checkpoint import load_checkpoint
    from amf_edge.convert.export import export_onnx

    return export_onnx(load_checkpoint(tiny_checkpoint()), "ab" * 32, tmp_path_factory.mktemp("trt") / "m.onnx",
                       height=64, width=80, outputs=("labels", "logits"))


@pytest.mark.trt
def test_real_tensorrt_build_and_run_match_onnx_runtime(exported, tmp_path):
    import onnxruntime as ort

    from amf_edge.convert.build import build_engine
    from amf_edge.runtime.backends.trt import TensorRTBackend
    from amf_edge.synthetic import SyntheticScenes

    result = build_engine(exported, tmp_path / "m.engine", timing_cache=tmp_path / "t.cache")
    again = build_engine(exported, tmp_path / "m.engine", timing_cache=tmp_path / "t.cache")
    assert result.built and not again.built
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    with TensorRTBackend(tmp_path / "m.engine") as backend:
        for sample in SyntheticScenes(seed=3, n=2, height=64, width=80):
            inputs = backend.contract.inputs(sample)
            ours = backend.infer(inputs)
            reference = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
            assert (ours["labels"] == reference["labels"]).mean() > 0.99
            # FP32 engines may use TF32 kernels on Ampere and newer (TensorRT's default): ~1e-3 relative
            assert np.abs(ours["logits"] - reference["logits"]).max() < 0.1


@pytest.mark.trt
def test_real_tensorrt_cuda_graph_and_pipelining(exported, tmp_path):
    from amf_edge.convert.build import build_engine
    from amf_edge.runtime.backends.trt import TensorRTBackend
    from amf_edge.runtime.cuda import CudaPython
    from amf_edge.synthetic import SyntheticScenes

    build_engine(exported, tmp_path / "m.engine")
    frames = list(SyntheticScenes(seed=5, n=3, height=64, width=80))
    with TensorRTBackend(tmp_path / "m.engine") as plain:
        expected = [plain.infer(plain.contract.inputs(s))["labels"] for s in frames]
    with TensorRTBackend(tmp_path / "m.engine", cuda=CudaPython(), cuda_graph=True, max_in_flight=2) as graphed:
        inputs = [graphed.contract.inputs(s) for s in frames]
        graphed.submit(inputs[0])
        got = []
        for x in inputs[1:]:
            graphed.submit(x)
            got.append(graphed.collect()["labels"])
        got.append(graphed.collect()["labels"])
    assert all((a == b).all() for a, b in zip(got, expected))
