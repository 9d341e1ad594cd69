"""The one exception base of the tracker package, and its typed failures."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CrlError",
    "LibraryError",
    "MalformedRequest",
    "TlsSetupError",
    "TrackerError",
    "UnknownPath",
]


class TrackerError(Exception):
    """Base of every error raised by `tracker`; its message is one line for the operator."""


class MalformedRequest(TrackerError):
    """An announce or scrape request the tracker cannot parse.

    ``failure_reason`` is the text sent back to the client in the bencoded
    ``failure reason`` key; ``param`` names the offending query parameter, if any.
    """

    def __init__(self, failure_reason: str, *, param: str | None = None) -> None:
        super().__init__(failure_reason)
        self.failure_reason = failure_reason
        self.param = param


class UnknownPath(MalformedRequest):
    """The request target is neither the announce nor the scrape path (HTTP 404)."""


class ConfigError(TrackerError):
    """The tracker configuration (TOML file or keyword values) is invalid."""


class LibraryError(TrackerError):
    """The film library (directory of ``.torrent`` files) cannot be read."""


class CrlError(TrackerError):
    """The certificate revocation list is unreadable or not signed by the tracker's CA."""


class TlsSetupError(TrackerError):
    """The CA, server certificate or server key cannot be loaded into a TLS context."""
