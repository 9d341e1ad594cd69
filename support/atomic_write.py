"""Atomic file writes, and private files written with mode 0600, for every package.

Nothing is ever written half-way: data goes to a temporary file in the target's
directory, is flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["fsync_directory", "write_atomic", "write_new_private", "write_private"]


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Make the directory entries of ``path`` durable (a rename or link is not until then).

    Without it a power cut can keep the old directory contents even though the file's
    own data was fsynced: e.g. a published torrent whose content key never reached disk.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename) with ``mode``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, target)
        fsync_directory(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target


def write_private(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write a secret (private key, content key, token) atomically with mode 0600."""
    return write_atomic(path, data, mode=0o600)


def write_new_private(path: str | os.PathLike[str], data: bytes) -> Path:
    """Create a secret file (0600) atomically; `FileExistsError` if ``path`` exists.

    The file appears whole or not at all, and never replaces another: two writers
    racing for the same path cannot overwrite each other (a hard link does not clobber).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp_name, target)
        fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return target
