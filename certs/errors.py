"""The one exception base of the operator PKI, and its typed failures."""

from __future__ import annotations

__all__ = [
    "BundleError",
    "CertsError",
    "KeyFileError",
    "RentalExpired",
    "RentalNotThisNode",
    "RentalNotYetValid",
    "RentalOtherCA",
    "RentalTampered",
]


class CertsError(Exception):
    """Base of every error raised by `certs`; its message is one line for the operator."""


class KeyFileError(CertsError):
    """A key file is missing, unreadable, malformed or readable by other users."""


class BundleError(CertsError):
    """A rental bundle could not be read: garbage bytes, unknown version, missing fields."""


class RentalTampered(BundleError):
    """The bundle's certificate signature or the wrapped content key does not verify."""


class RentalOtherCA(BundleError):
    """The rental certificate was not issued by the CA the node trusts."""


class RentalNotThisNode(BundleError):
    """The rental certificate is for another node's public key."""


class RentalExpired(BundleError):
    """The rental window has ended (now >= notAfter)."""


class RentalNotYetValid(BundleError):
    """The rental window has not started yet (now < notBefore)."""
