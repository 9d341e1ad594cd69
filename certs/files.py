"""Atomic file writes and private-key file hygiene shared by every package.

Nothing is ever written half-way: data goes to a temporary file in the target's
directory, is flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import KeyFileError

__all__ = ["read_private", "write_atomic", "write_private"]


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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target


def write_private(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write a secret (private key, content key, token) atomically with mode 0600."""
    return write_atomic(path, data, mode=0o600)


def read_private(path: str | os.PathLike[str], *, what: str = "private key") -> bytes:
    """Read a secret file, refusing one that other users can read or write.

    Raises `KeyFileError` with a one-line reason for a missing, unreadable or
    too-open file (mode must not grant anything to group or others).
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{what} {p} does not exist") from None
    except OSError as e:
        raise KeyFileError(f"{what} {p} cannot be read: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"{what} {p} is not a regular file")
    if st.st_mode & 0o077:
        raise KeyFileError(
            f"{what} {p} is accessible by other users (mode {stat.S_IMODE(st.st_mode):04o});"
            f" run: chmod 600 {p}"
        )
    try:
        return p.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{what} {p} cannot be read: {e.strerror}") from None
