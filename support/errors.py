"""Errors of the support helpers; each carries a one-line message for the user."""

from __future__ import annotations

__all__ = ["InputError", "ProcessStartError", "SupportError"]


class SupportError(Exception):
    """Base of the support helpers' errors; the CLI prints ``error: <message>``."""


class InputError(SupportError, ValueError):
    """A value given by a user (address, rate) that cannot be used."""


class ProcessStartError(SupportError):
    """A child process did not come up (exited, or did not listen in time)."""
