"""Inference backends: ONNX Runtime and the PyTorch reference agree, contracts, and model/backend mix-ups."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.runtime.backends import BACKENDS, open_backend
from amf_edge.synthetic import SYNTHETIC_LABELS, SyntheticScenes
from amf_edge.visualize import overlay

ort = pytest.importorskip("onnxruntime")
H, W = 48, 64
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint (tests/conftest.py) and its ONNX export at 48×64 with every output but logits
    (exported once: seconds)."""
    from amf_edge import load_checkpoint
    from amf_edge.convert.export import export_onnx

    pt = tiny_checkpoint()
    onnx_path = export_onnx(load_checkpoint(pt), "cd" * 32, tmp_path_factory.mktemp("backends") / "tiny.onnx",
                            height=H, width=W,
                            outputs=("labels", "labels_rgb", "labels_depth", "confidence", "overlay"))
    return pt, onnx_path


@pytest.fixture(scope="module")
def frames():
    return list(SyntheticScenes(seed=21, n=3, height=H, width=W))


def test_onnx_runtime_and_pytorch_agree(models, frames):
    pt, onnx_path = models
    outputs = ("labels", "labels_rgb", "labels_depth", "confidence", "overlay")
    with open_backend(onnx_path) as ort_backend, open_backend(pt, outputs=outputs) as torch_backend:
        for sample in frames:
            a = ort_backend.infer(ort_backend.contract.inputs(sample))
            b = torch_backend.infer(torch_backend.contract.inputs(sample))
            assert set(a) == set(b) == set(outputs)
            for name in a:
                assert a[name].shape == b[name].shape and a[name].dtype == b[name].dtype, name
            assert a["labels"].shape == (1, H, W) and a["labels"].dtype == np.uint8
            # folded (ONNX) vs unfolded (checkpoint) weights: logits within 1e-4, so labels agree, every head's
            for name in ("labels", "labels_rgb", "labels_depth"):
                assert (a[name] == b[name]).mean() >= 0.999, name
            assert not np.array_equal(b["labels_rgb"], b["labels_depth"])
            assert np.abs(a["confidence"] - b["confidence"]).max() < 1e-3
            same = a["labels"] == b["labels"]
            assert np.abs(a["overlay"].astype(int) - b["overlay"].astype(int))[same].max() <= 1
            # the torch backend's overlay is the runtime's overlay of its labels (±1 for rounding)
            expected = overlay(sample.rgb, b["labels"][0], SYNTHETIC_LABELS)
            assert np.abs(b["overlay"][0].astype(int) - expected).max() <= 1


def test_contracts(models):
    pt, onnx_path = models
    with open_backend(onnx_path) as backend:
        c = backend.contract
        assert (c.height, c.width, c.channel_order, c.outputs) == (H, W, "RGB", ("labels", "labels_rgb", "labels_depth",
                                                                                "confidence", "overlay"))
        assert c.labels == SYNTHETIC_LABELS and c.metadata["preset"] == "asymfusion-r18"
        info = backend.describe()
        assert info["backend"] == "ort" and info["provider"] == "CPUExecutionProvider" and info["device"] == "cpu"
    with open_backend(pt, device="cpu") as backend:
        c = backend.contract
        # the export's default outputs: the RGB head's labels for the depth fallback too
        assert c.dynamic and c.outputs == ("labels", "labels_rgb") and c.labels == SYNTHETIC_LABELS
        assert c.channel_order == "RGB"
        assert backend.describe()["device"] == "cpu"
        # a checkpoint takes any size: labels come back at the frame's resolution
        sample = next(iter(SyntheticScenes(seed=2, n=1, height=32, width=40)))
        out = backend.infer(backend.contract.inputs(sample))
        assert list(out) == ["labels", "labels_rgb"] and out["labels"].shape == (1, 32, 40)


def test_bgr_checkpoint_gets_bgr_inputs_and_overlay(tiny_checkpoint, frames):
    rgb_pt, bgr_pt = tiny_checkpoint(), tiny_checkpoint("BGR")
    outputs = ("labels", "overlay")
    with open_backend(rgb_pt, outputs=outputs) as rgb_model, open_backend(bgr_pt, outputs=outputs) as bgr_model:
        assert bgr_model.contract.channel_order == "BGR"
        bgr_inputs = bgr_model.contract.inputs(frames[0])
        np.testing.assert_array_equal(bgr_inputs["rgb"][0], frames[0].rgb[..., ::-1])
        a, b = rgb_model.infer(rgb_model.contract.inputs(frames[0])), bgr_model.infer(bgr_inputs)
        np.testing.assert_array_equal(a["labels"], b["labels"])  # same network, same image
        np.testing.assert_array_equal(a["overlay"][..., ::-1], b["overlay"])  # overlay in the frame's order


def test_ort_threads_and_one_inference_in_flight(models, frames):
    _, onnx_path = models
    with open_backend(onnx_path, "ort", device="cpu", threads=1) as backend:
        assert backend.describe()["threads"] == 1
        inputs = backend.contract.inputs(frames[0])
        with pytest.raises(RuntimeError, match="without submit"):
            backend.collect()
        backend.submit(inputs)
        with pytest.raises(RuntimeError, match="twice"):
            backend.submit(inputs)
        assert backend.collect()["labels"].shape == (1, H, W)


@pytest.mark.parametrize("suffix, backend", [(".onnx", "trt"), (".onnx", "torch"), (".pt", "ort"), (".pt", "trt")])
def test_a_backend_that_does_not_run_the_file_is_an_error(models, suffix, backend):
    path = models[0] if suffix == ".pt" else models[1]
    with pytest.raises(AmfEdgeError, match=f"--backend {backend} runs .* but .* is .*; use --backend"):
        open_backend(path, backend)


@pytest.mark.parametrize("name, content, kwargs, message", [
    ("missing.onnx", None, {}, "does not exist"),
    ("model.tflite", b"x", {}, "cannot tell the model format"),
    ("model.onnx", b"not a protobuf", {}, "ONNX Runtime cannot load"),
    ("model.onnx", b"x", {"backend": "tensorflow"}, "unknown backend"),
    ("model.onnx", b"x", {"device": "tpu"}, "unknown device"),
    ("model.onnx", b"x", {"threads": 0}, "threads must be at least 1"),
    ("model.onnx", b"x", {"outputs": ("labels", "overlay")}, "fixed when it is built"),
])
def test_bad_models_and_options(tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AmfEdgeError, match=message):
        open_backend(path, **kwargs)


def test_cuda_without_a_cuda_provider_is_an_error(models):
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(AmfEdgeError, match="no CUDA provider.*onnxruntime-gpu"):
        open_backend(models[1], device="cuda")


def test_onnx_without_amf_edge_metadata_or_with_other_inputs(models, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    def identity_model(inputs, metadata):
        nodes = [helper.make_node("Identity", [name], [f"out_{name}"]) for name, _, _ in inputs]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                                  [helper.make_tensor_value_info(f"out_{n}", t, s) for n, t, s in inputs])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 10
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        return model

    plain = tmp_path / "plain.onnx"
    onnx.save(identity_model([("x", TensorProto.FLOAT, [1, 4])], {}), str(plain))
    with pytest.raises(AmfEdgeError, match="no amf-edge metadata; export it with `amf-edge export`"):
        open_backend(plain)
    # the real model's metadata on a graph whose inputs are something else
    meta = {p.key: p.value for p in onnx.load(str(models[1]), load_external_data=False).metadata_props}
    other = tmp_path / "other.onnx"
    onnx.save(identity_model([("image", TensorProto.UINT8, [1, H, W, 3]), ("depth", TensorProto.FLOAT, [1, H, W])],
                             meta), str(other))
    with pytest.raises(AmfEdgeError, match="declares inputs .*'image'.* metadata promises rgb uint8 1×48×64×3"):
        open_backend(other)


def test_tensorrt_is_looked_up_lazily_with_clear_errors(tmp_path, monkeypatch):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    monkeypatch.syspath_prepend(str(tmp_path))
    # the backend module is absent from the installation
    monkeypatch.setitem(BACKENDS, "trt", "amf_test_no_such_module:TensorRTBackend")
    with pytest.raises(AmfEdgeError, match="not part of this amf-edge installation"):
        open_backend(engine)
    # the module is there but tensorrt is not installed
    (tmp_path / "amf_test_trt_needs_tensorrt.py").write_text("import tensorrt\n")
    monkeypatch.setitem(BACKENDS, "trt", "amf_test_trt_needs_tensorrt:TensorRTBackend")
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # importing it fails, as where it is not installed
    with pytest.raises(AmfEdgeError, match="needs the Python module 'tensorrt'.*JetPack"):
        open_backend(engine)
    # present: constructed with the path alone; TensorRT never runs on the CPU and takes no thread count
    (tmp_path / "amf_test_trt_ok.py").write_text(
        "class TensorRTBackend:\n    def __init__(self, path, cuda_graph):\n"
        "        self.path, self.graph = path, cuda_graph\n")
    monkeypatch.setitem(BACKENDS, "trt", "amf_test_trt_ok:TensorRTBackend")
    assert open_backend(engine).path == engine and open_backend(engine, "trt", device="cuda").path == engine
    assert open_backend(engine, cuda_graph=True).graph is True
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"not loaded: the option is refused first")
    with pytest.raises(AmfEdgeError, match="CUDA graphs are for TensorRT engines"):
        open_backend(onnx_file, cuda_graph=True)
    with pytest.raises(AmfEdgeError, match="runs only on the GPU"):
        open_backend(engine, device="cpu")
    with pytest.raises(AmfEdgeError, match="TensorRT has none"):
        open_backend(engine, threads=2)


def test_the_torch_backend_imports_torch_only_lazily():
    """runtime/backends/torch.py is the runtime's one exception to 'no torch' (see test_dependencies):
    torch and the torch layer only inside functions, and nothing from train, convert or the CLI."""
    path = ROOT / "runtime/backends/torch.py"
    tree = ast.parse(path.read_text())
    top_level = {alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    top_level |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    torch_layer = ("amf_edge.models", "amf_edge.checkpoint")
    assert not {m for m in top_level if m.split(".")[0] == "torch" or m.startswith(torch_layer)}
    everywhere = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    everywhere |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {"amf_edge.checkpoint", "amf_edge.models"} <= everywhere
    assert not {m for m in everywhere if m.split(".")[0] in ("train", "convert") or m.startswith("amf_edge.cli")}
    assert "require_module" in path.read_text()  # torch itself through the helper that names the package



@pytest.mark.parametrize("flags, saturating", [
    ("flags\t: fpu sse4_2 avx2 fma", True),                       # AMD EPYC (Zen 2/3): AVX2, no VNNI
    ("flags\t: fpu avx2 avx512f avx512_vnni", False),            # Xeon with AVX-512 VNNI
    ("flags\t: fpu avx2 avx_vnni", False),                        # Alder Lake and later: AVX-VNNI
    ("flags\t: fpu avx2 avx512f amx_int8 avx512_vnni", False),   # Sapphire Rapids
])
def test_int8_accumulation_is_exact_on_every_x86_host(flags, saturating, monkeypatch):
    """ONNX Runtime's u8×s8 kernels saturate on x86 without VNNI; the runtime asks for 32-bit accumulation there,
    and only there (on VNNI hosts that entry takes a 3× slower path for nothing)."""
    from amf_edge.runtime.backends import ort as backend

    assert backend.saturating_int8_host(flags) is saturating
    monkeypatch.setattr(backend, "saturating_int8_host", lambda: saturating)
    options = backend.session_options(ort)
    if saturating:
        assert options.get_session_config_entry("session.x64quantprecision") == "1"
    else:
        with pytest.raises(RuntimeError, match="does not have configuration"):
            options.get_session_config_entry("session.x64quantprecision")
