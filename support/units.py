"""Byte counts and rates as people write them: ``4M`` in, ``1.5 MB`` out (pure)."""

from __future__ import annotations

import re

from support.errors import InputError

__all__ = ["format_bytes", "parse_rate"]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB](?:/s)?)?\s*$")
_MULT = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def parse_rate(text: str) -> int:
    """Parse a rate in bytes/s: ``"500000"``, ``"500K"``, ``"4M"``, ``"1G"`` (decimal units).

    ``0`` means unlimited. Raises `InputError` for anything else.
    """
    m = _RATE.match(text)
    if not m:
        raise InputError(f"invalid rate {text!r}: use bytes/s or a suffix, e.g. 500K, 4M, 1G")
    return int(float(m.group(1)) * _MULT[m.group(2).lower()])


def format_bytes(n: float) -> str:
    """Human-readable decimal bytes: 1.5 MB, 320 kB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
