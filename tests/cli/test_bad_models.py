"""Broken model files that used to end in a traceback (issue 14): a corrupt or truncated ONNX in `quantize`, a
checkpoint with missing keys or wrong shapes in `export` and `eval`, a junk file in `import-reference`. Each is
one clear line on stderr and exit 1, in a real process; a failed checkpoint write leaves no `.tmp`."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def amf_edge(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "amf_edge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def one_clear_line(result, *words: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and all(w in result.stderr for w in words), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_quantize_a_truncated_or_junk_onnx(tmp_path):
    pytest.importorskip("onnx")
    from amf_edge.testing import toy_model

    data = toy_model(tmp_path / "toy.onnx", 8, 8).read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.onnx").write_bytes(b"not a model\n" * 20)
    for name in ("cut.onnx", "junk.onnx"):
        result = amf_edge("quantize", tmp_path / name, "--precision", "fp16", "-o", tmp_path / "out.onnx")
        one_clear_line(result, f"{name} is not a readable ONNX model", "export it again")
    one_clear_line(amf_edge("quantize", tmp_path / "none.onnx", "--precision", "fp16", "-o", tmp_path / "o.onnx"),
                   "none.onnx does not exist")
    assert not list(tmp_path.glob("out*"))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from amf_edge.checkpoint import save_checkpoint
    from amf_edge.labels import LabelSet
    from amf_edge.models import build_model
    from amf_edge.preprocess import PreprocessSpec

    d = tmp_path_factory.mktemp("ckpt")
    path = save_checkpoint(d / "good.pt", build_model("asymfusion-r18", num_classes=3), labels=LabelSet.generic(3),
                           preprocess=PreprocessSpec())
    payload = torch.load(path, weights_only=True)
    state = payload["state_dict"]
    missing = dict(payload, state_dict={k: v for k, v in state.items() if not k.startswith("decoder.")})
    torch.save(missing, d / "missing.pt")
    key = next(k for k in state if k.endswith("weight") and state[k].ndim == 4)
    shaped = dict(payload, state_dict={**state, key: torch.zeros(1, 1, 1, 1)})
    torch.save(shaped, d / "shapes.pt")
    return d, key


@pytest.mark.parametrize("command", ["export", "eval"])
def test_a_checkpoint_with_missing_keys_or_wrong_shapes(checkpoints, tmp_path, command):
    d, key = checkpoints
    for name, words in (("missing.pt", ("missing (e.g. decoder.",)),
                        ("shapes.pt", ("1 with another shape", f"{key} (1, 1, 1, 1) instead of"))):
        args = (["-o", tmp_path / "out.onnx", "--check-frames", "1"] if command == "export"
                else ["--data", "synthetic://?n=2&height=32&width=32"])
        result = amf_edge(command, d / name, *args)
        one_clear_line(result, f"{name}: its weights do not fit the model its config describes (resnet18, 3 classes)",
                       *words, "train or import it again")
    assert list(tmp_path.iterdir()) == []


def test_import_reference_on_a_junk_file(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"junk data")
    result = amf_edge("import-reference", junk, "--preset", "asymfusion-r50", "--classes", "40", "-o",
                      tmp_path / "out.pt")
    one_clear_line(result, "junk.pth cannot be loaded safely", "does not parse as a PyTorch file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pth"]


def test_a_checkpoint_write_that_fails_leaves_no_tmp(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from amf_edge.checkpoint import save_checkpoint
    from amf_edge.labels import LabelSet
    from amf_edge.models import build_model
    from amf_edge.preprocess import PreprocessSpec

    def disk_full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(tmp_path / "m.pt", build_model("asymfusion-r18", num_classes=3), labels=LabelSet.generic(3),
                        preprocess=PreprocessSpec())
    assert list(tmp_path.iterdir()) == []
