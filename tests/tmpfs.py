"""A real small filesystem for write-error tests: a tmpfs of a few hundred kB fills up like a full SD card
(ENOSPC from write), and a read-only one refuses like a read-only mount (EROFS), also for root, whom
chmod does not stop. Mounting needs root (as here and in CI); elsewhere the tests skip and say why."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "300k", *, read_only: bool = False):
    """Mount a tmpfs of `size` at `path` (created) for the block; skip the test where mounting fails."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                                 capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("needs the mount command to make a small tmpfs (a full disk); none here")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (a full disk) at {path}: {mounted.stderr.strip()} "
                    "(needs root, as in CI)")
    try:
        yield path
    finally:
        # lazily where something still holds a file open (librealsense frees its recorder when it likes):
        # the mount is detached now and freed once the last file closes
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def hidden_files(folder: Path) -> list[str]:
    """Temporary and reserve files a sink left behind (they start with a dot), anywhere below `folder`."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))
