"""Reading the PKI's files with one-line errors: public ones (certificates, CRLs, public keys,
bundles) with `read_file`, secrets with `read_private`, which also refuses too-open modes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certs.errors import CertsError, KeyFileError

__all__ = ["read_file", "read_private"]


def read_file(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[CertsError] = CertsError,
    max_bytes: int | None = None,
    hint: str = "",
) -> bytes:
    """Read a whole file; raise ``error`` with one line naming ``what`` if that is impossible.

    ``max_bytes`` caps the size (so a hostile file cannot cost memory); ``hint`` is
    appended to the "does not exist" message, e.g. the command that creates the file.
    """
    p = Path(path)
    try:
        if max_bytes is not None and (size := p.stat().st_size) > max_bytes:
            raise error(f"{what} {p} is too large ({size} bytes)")
        return p.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} {p} does not exist{hint}") from None
    except IsADirectoryError:
        raise error(f"{what} {p} is a directory") from None
    except OSError as e:
        raise error(f"{what} {p} cannot be read: {e.strerror}") from None


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
