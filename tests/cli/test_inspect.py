"""`amf-edge inspect`: what an .onnx, .engine bundle, .pt checkpoint or calibration set is, as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trt_standin as ts

from amf_edge.bundle import read_bundle, write_bundle
from amf_edge.cli.main import main
from amf_edge.contract import read_metadata

pytestmark = pytest.mark.edge
pytest.importorskip("onnx")
CALIB = Path(__file__).resolve().parents[2] / "calib_data" / "synthetic-240x320"


def inspect(capsys, *args):
    code = main(["inspect", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_onnx_shows_its_contract_and_graph(tmp_path, capsys):
    model = ts.write_onnx(tmp_path / "m.onnx", height=48, width=64, outputs=("labels",), channel_order="BGR")
    code, out, _ = inspect(capsys, model)
    assert code == 0
    assert out.startswith(f"{model}: onnx\n  preset      asymfusion-r18")
    assert "rgb uint8 N×48×64×3 BGR; depth float32 N×48×64 in metres, 0.0 = none" in out
    assert "precision   fp32" in out and "classes     11: floor, wall" in out
    code, out, _ = inspect(capsys, model, "--json")
    d = json.loads(out)
    assert d["kind"] == "onnx" and d["contract"]["rgb"]["channel_order"] == "BGR"
    assert d["graph"]["inputs"] == [{"name": "rgb", "dtype": "uint8", "shape": [1, 48, 64, 3]},
                                    {"name": "depth", "dtype": "float32", "shape": [1, 48, 64]}]
    assert d["graph"]["ops"] == {"Slice": 1, "Squeeze": 1} and len(d["sha256"]) == 64


def test_engine_shows_tensorrt_gpu_options_and_check(tmp_path, capsys, write_engine_bundle):
    meta = read_metadata(ts.write_onnx(tmp_path / "m.onnx", height=48, width=64))
    bundle = write_engine_bundle(tmp_path, metadata=meta, device=ts.ORIN, dla_core=0)
    code, out, _ = inspect(capsys, bundle.engine_path)
    assert code == 0 and "tensorrt    10.3.0 on NVIDIA Jetson AGX Orin (compute capability 8.7)" in out
    assert 'options     {"dla_core": 0}' in out and "check       never checked" in out
    assert "NOT the engine" not in out

    bundle.check = {"against": "m.onnx", "frames": 16, "label_agreement": 99.84, "passed": True}
    write_bundle(bundle)
    assert read_bundle(bundle.engine_path).check == bundle.check  # the sidecar keeps it
    code, out, _ = inspect(capsys, bundle.engine_path)
    assert "check       against m.onnx on 16 frames: 99.8 % labels equal, passed" in out
    bundle.engine_path.write_bytes(b"other plan")
    code, out, _ = inspect(capsys, bundle.engine_path, "--json")
    assert code == 0 and json.loads(out)["sha256_matches_sidecar"] is False


def test_a_sidecar_without_a_check_still_reads(tmp_path, write_engine_bundle):
    """Bundles written before `build --check` existed: no "check" key, and none is written for them."""
    meta = read_metadata(ts.write_onnx(tmp_path / "m.onnx"))
    bundle = write_engine_bundle(tmp_path, metadata=meta, device=ts.RTX_4090)
    assert "check" not in json.loads(bundle.sidecar_path.read_text())
    assert read_bundle(bundle.engine_path).check is None and bundle.check_note() is None


def test_calibration_set(capsys):
    code, out, _ = inspect(capsys, CALIB)
    assert code == 0 and "name        synthetic-240x320, 16 frames of 240×320" in out
    manifest = json.loads((CALIB / "manifest.json").read_text())
    assert f"content     sha256 {manifest['content_sha256']}" in out


def test_checkpoint(tiny_checkpoint, capsys):
    pytest.importorskip("torch")
    code, out, _ = inspect(capsys, tiny_checkpoint(), "--json")
    d = json.loads(out)
    assert code == 0 and d["kind"] == "checkpoint" and d["classes"] == 11 and d["preset"] == "asymfusion-r18"
    assert 1e6 < d["parameters"] < 2e7 and d["resumable"] is False


@pytest.mark.parametrize("name, content, message", [
    ("notes.txt", b"x", "cannot tell what this is from its suffix '.txt'"),
    ("missing.onnx", None, "no such file"),
    ("m.onnx", b"not protobuf", "m.onnx"),
    ("m.engine", b"plan", "has no sidecar"),
    ("m.pt", b"not a checkpoint", None),
])
def test_wrong_files_exit_1_with_one_line(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = inspect(capsys, path)
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    if message is None:  # .pt: torch reads it where installed, else the message names the extra that brings it
        message = "not a PyTorch checkpoint" if _has("torch") else 'pip install "amf-edge[train]"'
    assert message in err


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_info_on_a_model_file_points_to_inspect(tmp_path, capsys):
    from amf_edge.cli.main import main

    assert main(["info", str(tmp_path / "r18.onnx"), "--classes", "40"]) == 1
    assert "amf-edge inspect" in capsys.readouterr().err
