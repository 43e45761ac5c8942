"""Small file helpers shared by every stage (standard library only)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path

from amf_edge.errors import AmfEdgeError


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


MIN_FREE_BYTES = 1 << 20  # less than this on the output's filesystem: full, for any output amf-edge writes


def check_output(path: str | os.PathLike, what: str, *, folder: bool = False) -> Path:
    """Check, before any work starts, that `path` can be written; raise AmfEdgeError saying why not.

    An output that fails only after minutes of work (an export, a quantization, a training run) wastes
    the work and used to leave a traceback and a `.tmp` file. Checked here: a file is not an existing
    folder (and a folder not an existing file), no name in the path is longer than its filesystem allows,
    the nearest existing folder is a folder we can create files in (a probe file, removed at once: this
    is what a read-only mount or missing permissions fail), and its filesystem has space left. Nothing is
    created: a run that fails later leaves no empty folders behind.

    Args:
        path: the output file, or folder with `folder=True`.
        what: how messages name it, e.g. "--output" or "stats://runs/s.json".

    Returns:
        `path` as a Path.
    """
    path = Path(path)
    kind = "folder" if folder else "file"
    if not folder and path.is_dir():
        raise AmfEdgeError(f"{what} {path} is an existing folder, but a file is expected here; name a file "
                           f"(e.g. {path / ('out' + (path.suffix or ''))}) or remove the folder")
    if folder and path.exists() and not path.is_dir():
        raise AmfEdgeError(f"{what} {path} is an existing file, but a folder is expected here; name another "
                           "folder or remove the file")
    existing = path if folder and path.is_dir() else path.parent
    missing: list[str] = [] if existing is path else [path.name]
    while not existing.exists():
        missing.insert(0, existing.name)
        existing = existing.parent if existing != existing.parent else existing
    if not existing.is_dir():
        raise AmfEdgeError(f"{what} {path}: {existing} is a file, so no folder can be made there for the {kind}; "
                           "choose another path")
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255  # the limit of every common Linux filesystem
    for name in missing:
        if len(os.fsencode(name)) > name_max:
            raise AmfEdgeError(f"{what}: the name {name[:40]}… is {len(os.fsencode(name))} bytes long, but the "
                               f"filesystem of {existing} allows at most {name_max}; choose a shorter name")
    try:
        fd, probe = tempfile.mkstemp(prefix=".amf-edge-write-check-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise AmfEdgeError(f"{what} {path}: cannot create files in {existing} ({e.strerror}); choose a folder "
                           "you can write to, or fix its permissions or mount") from None
    try:
        stat = os.statvfs(existing)
    except OSError:
        return path  # no statvfs here (e.g. some network filesystems): the write itself will tell
    free = stat.f_bavail * stat.f_frsize
    if free < MIN_FREE_BYTES:
        raise AmfEdgeError(f"{what} {path}: the filesystem of {existing} is full ({free} bytes free); free some "
                           "space or write elsewhere")
    return path


def write_text_replacing(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file beside it, renamed over it when whole: a failed write
    (a full disk) leaves the old file, or none, and never the temporary one."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


@contextlib.contextmanager
def replacing(path: str | os.PathLike, what: str = "output"):
    """`with replacing(out) as tmp:` write `tmp` (a hidden name beside `out`); it becomes `out` when the block ends
    without an error, and is removed when it raises. An OSError (a full disk, a lost mount) becomes one line."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in WRITE_ERRNOS:  # the write failed, not something read for it
            raise AmfEdgeError(f"could not write the {what} {path}: {e.strerror or e}; free some space or write "
                               "elsewhere") from None
        raise
