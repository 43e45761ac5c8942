"""Checked file writes for the sinks: nothing half-written ever carries a final name.

Every file a sink makes is written under a hidden temporary name in its own folder and renamed over the
final name only when it is whole (`os.replace` is atomic within one filesystem). Every write is checked:
`cv2.imwrite` and OpenCV's video writer say nothing (or only False) on a full disk and leave 0-byte or
truncated files behind, so the sinks encode in memory and write the bytes here, where an OSError
(ENOSPC, EIO, EROFS, EACCES) becomes one `AmfEdgeError` line that says what failed and how to fix it.

`Reserve` holds disk space for finishing a file: a video is only playable once its index is written at
the end, so a video sink keeps that much space allocated in a hidden file and frees it to finish.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from amf_edge.errors import AmfEdgeError

FIXES = {
    errno.ENOSPC: "the disk is full: free space or write to another disk",
    errno.EDQUOT: "the disk quota is used up: free space or write to another disk",
    errno.EROFS: "the filesystem is read-only: write to a writable folder",
    errno.EACCES: "no permission to write there: choose a folder you own or fix its permissions",
    errno.EPERM: "no permission to write there: choose a folder you own or fix its permissions",
    errno.EIO: "the storage reported an I/O error: check the disk or card (dmesg) and write elsewhere",
    errno.EFBIG: "the file grew past this filesystem's size limit: write to another filesystem",
}


def fix_for(error: OSError) -> str:
    """What to do about a failed write, by errno."""
    return FIXES.get(error.errno, "check the folder, its permissions and free space")


def describe_os_error(error: OSError) -> str:
    return error.strerror or str(error)


def temp_path(path: Path, tag: str = "part") -> Path:
    """A hidden name beside `path` (same filesystem, so the rename is atomic), keeping its suffix: some
    writers pick the format from it. The pid keeps two runs into one folder apart."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{tag}{path.suffix}")


def check_folder_writable(uri: str, folder: Path) -> None:
    """Create `folder` if needed and make sure a file can be created in it, before any work starts.

    A probe file, not os.access: root passes access() checks that a read-only mount or a full inode table
    still refuses, and that is how robots run."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AmfEdgeError(f"{uri}: cannot create the folder {folder} ({describe_os_error(e)}); {fix_for(e)}") from None
    probe = folder / f".amf-edge-probe.{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        probe.unlink()
    except OSError as e:
        raise AmfEdgeError(f"{uri}: cannot write into {folder} ({describe_os_error(e)}); {fix_for(e)}") from None


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem holding `folder`."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def write_all(fd: int, data) -> None:
    """os.write until every byte is written: a write to a nearly full disk may take only part of them."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def write_file_atomic(path: Path, data, *, fsync: bool = False) -> None:
    """Write `data` to `path` whole or not at all: into a temporary name, then renamed over `path`.

    Raises OSError (the temporary file removed). `fsync` makes the bytes durable before the rename, so a
    power cut leaves the old file or the new one; it costs a disk flush per file."""
    tmp = temp_path(path, "tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


class Reserve:
    """Disk space held in a hidden file beside an output, released when the output must be finished.

    `posix_fallocate` reserves real blocks (on tmpfs, ext4, xfs), so once the rest of the disk is full the
    space is still there to write a video's last frame and its index. Filesystems that cannot preallocate
    (some network and FUSE mounts) get no reserve: `held` stays 0 and finishing may fail there.
    """

    def __init__(self, beside: Path):
        self.path = temp_path(beside, "reserve")
        self.held = 0
        self.supported = True
        self._fd: int | None = None

    def grow(self, size: int) -> None:
        """Hold at least `size` bytes. Raises OSError (ENOSPC) when the disk cannot give them."""
        if size <= self.held or not self.supported:
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.posix_fallocate(self._fd, 0, size)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            self.supported = False  # nothing to hold here: go on without
            self.release()
            return
        self.held = size

    def release(self) -> bool:
        """Give the space back (idempotent); True if some was held."""
        had = self.held > 0
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a vanished or unremovable reserve frees nothing more: the write that needed it reports that
        self.held = 0
        return had
