"""Output paths are checked before any work starts (issue 14), by one helper, amf_edge.files.check_output: an
existing folder where a file is expected (or the reverse), a file in the way of the folder, a name too long for
the filesystem, a folder that cannot be written, a full filesystem. Every command that writes calls it at
argument-check time: each test passes an input that does not exist, so an output error proves the output was
checked first, in a real process, with one clear line, exit 1 and nothing written."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amf_edge.errors import AmfEdgeError
from amf_edge.files import check_output

ROOT = Path(__file__).resolve().parents[2]
LONG = "x" * 300


def amf_edge(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "amf_edge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def bad_output(tmp_path: Path, case: str, suffix: str) -> tuple[Path, str]:
    """An output path that cannot be written, and the words its error must contain."""
    if case == "folder":
        (tmp_path / f"taken{suffix}").mkdir()
        return tmp_path / f"taken{suffix}", "is an existing folder, but a file is expected"
    if case == "file":
        (tmp_path / "taken").write_text("a file")
        return tmp_path / "taken", "is an existing file, but a folder is expected"
    if case == "in-the-way":
        (tmp_path / "notes.txt").write_text("a file")
        return tmp_path / "notes.txt" / f"out{suffix}", "notes.txt is a file, so no folder can be made there"
    assert case == "long"
    return tmp_path / "sub" / f"{LONG}{suffix}", "bytes long, but the filesystem of"


COMMANDS = {  # command line before the output, the output's option, its suffix, the case, how much it writes
    "export": (["export", "missing.pt"], "-o", ".onnx", "folder"),
    "quantize": (["quantize", "missing.onnx", "--precision", "fp16"], "-o", ".onnx", "long"),
    "calib collect": (["calib", "collect", "--source", "synthetic://?n=4&height=16&width=16", "--n", "2"], "-o", "",
                      "long"),
    "eval --out": (["eval", "missing.onnx", "--data", "synthetic://?n=2"], "--out", "", "in-the-way"),
    "train --out": (["train", "--config", "synthetic-r18"], "--out", "", "file"),
    "demo --out": (["demo"], "--out", "", "in-the-way"),
    "bench --report": (["bench", "missing.onnx"], "--report", "", "long"),
    "stats://": (["run", "missing.onnx", "--source", "synthetic://?n=2"], "--sink", ".json", "folder"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_that_writes_checks_its_output_before_any_work(tmp_path, command):
    args, option, suffix, case = COMMANDS[command]
    out, words = bad_output(tmp_path, case, suffix)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    value = f"stats://{out}" if command == "stats://" else out
    result = amf_edge(*args, option, value, cwd=tmp_path)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "missing" not in result.stderr  # the output error came before the input was even looked at
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, no .tmp, no empty folder


def test_check_output_accepts_what_can_be_written_and_creates_nothing(tmp_path):
    assert check_output(tmp_path / "a" / "b" / "model.onnx", "-o") == tmp_path / "a" / "b" / "model.onnx"
    assert check_output(tmp_path / "runs" / "r18", "--out", folder=True) == tmp_path / "runs" / "r18"
    (tmp_path / "existing").mkdir()
    check_output(tmp_path / "existing", "--out", folder=True)  # an existing folder is fine for a folder
    (tmp_path / "old.onnx").write_text("old")
    check_output(tmp_path / "old.onnx", "-o")  # an existing file is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "old.onnx"]  # no probe, no folder left
    check_output(tmp_path / ("y" * 255), "-o")  # the longest name the filesystem allows


def test_check_output_names_a_folder_that_cannot_be_written_and_a_full_one(tmp_path, monkeypatch):
    import tempfile

    def read_only(*args, **kwargs):  # what a read-only mount answers (tests run as root: chmod cannot show it)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", read_only)
        with pytest.raises(AmfEdgeError, match=r"-o .*out.onnx: cannot create files in .* \(Read-only file system\); "
                                               r"choose a folder you can write to"):
            check_output(tmp_path / "out.onnx", "-o")
    real = os.statvfs(tmp_path)

    class Full:
        f_bavail, f_frsize = 3, real.f_frsize

    monkeypatch.setattr(os, "statvfs", lambda path: Full)
    with pytest.raises(AmfEdgeError, match=r"the filesystem of .* is full \(\d+ bytes free\); free some space"):
        check_output(tmp_path / "out", "--out", folder=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_output_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(AmfEdgeError, match="cannot create files in .*Permission denied"):
        check_output(locked / "out.onnx", "-o")


def test_calib_collect_that_fails_half_way_leaves_nothing_behind(tmp_path, monkeypatch):
    pytest.importorskip("cv2")
    import amf_edge.calibset as calibset
    from amf_edge.cli.calib import collect

    written = []
    real = calibset._write_png

    def disk_full_after_two(path, image):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path, image)
        written.append(path)

    monkeypatch.setattr(calibset, "_write_png", disk_full_after_two)
    out = tmp_path / "sets" / "new"
    with pytest.raises(AmfEdgeError, match=r"could not write the calibration set in .*new \(No space left on device\); "
                                           "nothing was kept"):
        collect("synthetic://?n=4&height=16&width=16", out, n=3)
    assert len(written) == 2 and not out.exists()  # not the two frames, not frames/, not the folder it made
    (tmp_path / "empty").mkdir()
    written.clear()
    with pytest.raises(AmfEdgeError, match="nothing was kept"):
        collect("synthetic://?n=4&height=16&width=16", tmp_path / "empty", n=3)
    assert list((tmp_path / "empty").iterdir()) == []  # a folder the user made stays, empty as it was


def test_a_text_write_that_fails_leaves_the_old_file_and_no_tmp(tmp_path, monkeypatch):
    from amf_edge.files import write_text_replacing

    path = tmp_path / "metrics.json"
    write_text_replacing(path, "old")
    real_replace = os.replace

    def disk_full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(AmfEdgeError, match="could not write the output .*metrics.json: No space left"):
        write_text_replacing(path, "new")
    monkeypatch.setattr(os, "replace", real_replace)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
