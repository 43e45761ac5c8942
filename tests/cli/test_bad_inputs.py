"""Bad inputs that used to end in a traceback (issue 14): each is one clear line on stderr and exit 1, in a real
process. A closed stdout (`amf-edge info --json | head -c 10`) ends quietly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
H, W = 24, 32
DATA = f"synthetic://?seed=7&n=4&height={H}&width={W}"


def amf_edge(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "amf_edge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def one_clear_line(result, message: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def onnx_model(path: Path, metadata: dict[str, str]) -> Path:
    """An Identity graph with the runtime's inputs and the given metadata_props (raw strings)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", ["rgb"], ["labels"], to=TensorProto.UINT8),
         helper.make_node("Identity", ["depth"], ["depth_out"])], "g",
        [helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, H, W, 3]),
         helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, H, W])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, H, W, 3]),
         helper.make_tensor_value_info("depth_out", TensorProto.FLOAT, [1, H, W])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


GOOD_CONTRACT = {"rgb": {"dtype": "uint8", "shape": ["N", H, W, 3], "channel_order": "RGB"},
                 "depth": {"dtype": "float32", "shape": ["N", H, W]}, "outputs": ["labels"]}
LABELS = json.dumps({"name": "toy", "names": ["a", "b"], "palette": [[0, 0, 0], [255, 255, 255]]})
BROKEN = {
    "not-json": {"amf_edge.input_contract": "{broken", "amf_edge.labels": LABELS},
    "no-rgb": {"amf_edge.input_contract": json.dumps({"outputs": ["labels"]}), "amf_edge.labels": LABELS},
    "no-labels": {"amf_edge.input_contract": json.dumps(GOOD_CONTRACT)},
    "labels-a-number": {"amf_edge.input_contract": json.dumps(GOOD_CONTRACT), "amf_edge.labels": "7"},
}


@pytest.mark.edge
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_run_with_broken_amf_edge_metadata(case, tmp_path):
    pytest.importorskip("onnxruntime")
    model = onnx_model(tmp_path / f"{case}.onnx", BROKEN[case])
    result = amf_edge("run", model, "--source", f"synthetic://?n=2&height={H}&width={W}")
    one_clear_line(result, f"{model}: its amf-edge metadata is broken")
    assert "export it again" in result.stderr


def test_info_into_a_closed_pipe_ends_quietly():
    """What `amf-edge info --json | head -c 10` does when head has gone: no BrokenPipeError traceback, no
    'Exception ignored' at exit."""
    process = subprocess.Popen([sys.executable, "-m", "amf_edge.cli.main", "info", "asymfusion-r18", "--classes",
                                "13", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    process.stdout.close()  # the reader is gone before the first write
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1 and err == "", err
    shell = subprocess.run(f"'{sys.executable}' -m amf_edge.cli.main info asymfusion-r18 --classes 13 --json "
                           "| head -c 10", shell=True, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert shell.stdout == '{\n  "prese' and shell.stderr == ""


# --- commands that need torch (train, eval) -------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("", "is empty; a recipe is a YAML mapping of sections: model"),
    ("# only a comment\n", "is empty; a recipe is a YAML mapping of sections"),
    ("{}\n", "is empty; a recipe"),
    ("- a\n- b\n", "holds a list; a recipe is a YAML mapping"),
    ("model: [unclosed\n", "is not valid YAML"),
])
def test_train_refuses_an_empty_or_broken_recipe(text, message, tmp_path):
    pytest.importorskip("torch")
    recipe = tmp_path / "empty.yaml"
    recipe.write_text(text)
    result = amf_edge("train", "--config", recipe, "--out", tmp_path / "out", cwd=tmp_path)
    one_clear_line(result, f"config {recipe} {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["--limit", "0"], "--limit must be at least 1, got 0"),
    (["--limit", "-3"], "--limit must be at least 1, got -3"),
    (["--save-images", "-1"], "--save-images must be 0 or more"),
])
def test_eval_refuses_limits_below_one(args, message, tmp_path):
    pytest.importorskip("torch")
    model = onnx_model(tmp_path / "m.onnx", {})
    one_clear_line(amf_edge("eval", model, "--data", DATA, *args), message)


def test_eval_with_a_truncated_corrupt_or_broken_onnx(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    good = onnx_model(tmp_path / "good.onnx", {"amf_edge.input_contract": json.dumps(GOOD_CONTRACT),
                                               "amf_edge.labels": LABELS}).read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, np.uint8).tobytes())
    for model in (truncated, corrupt):
        result = amf_edge("eval", model, "--data", DATA)
        one_clear_line(result, f"ONNX Runtime cannot load {model}")
    for case in ("not-json", "no-rgb"):
        model = onnx_model(tmp_path / f"{case}.onnx", BROKEN[case])
        one_clear_line(amf_edge("eval", model, "--data", DATA), f"{model}: its amf-edge metadata is broken")
    one_clear_line(amf_edge("eval", tmp_path / "missing.onnx", "--data", DATA), "missing.onnx does not exist")
