"""Reading the PKI's public files (certificates, CRLs, public keys, bundles) with one-line errors.

Secrets go through `certs.files.read_private`, which also refuses too-open modes.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CertsError

__all__ = ["read_file"]


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
