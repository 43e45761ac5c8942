"""amf_edge.files: outputs written whole or not at all."""

from __future__ import annotations

import errno

import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.files import replacing, write_text_replacing

pytestmark = pytest.mark.edge


def test_replacing_renames_when_whole_and_removes_the_temporary_file_on_failure(tmp_path):
    out = tmp_path / "m.onnx"
    with replacing(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".m.onnx.")
        tmp.write_text("v1")
    assert out.read_text() == "v1" and list(tmp_path.iterdir()) == [out]
    with pytest.raises(AmfEdgeError, match=r"could not write the ONNX model .*m.onnx: No space left"):
        with replacing(out, "ONNX model") as tmp:
            tmp.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert out.read_text() == "v1" and list(tmp_path.iterdir()) == [out]  # the old file, no temporary one
    with pytest.raises(FileNotFoundError):  # an error reading an input is not a write error: it passes through
        with replacing(out) as tmp:
            open(tmp_path / "missing.npz")
    with pytest.raises(KeyboardInterrupt):
        with replacing(out) as tmp:
            tmp.write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [out]
    write_text_replacing(out, "v2")
    assert out.read_text() == "v2"
