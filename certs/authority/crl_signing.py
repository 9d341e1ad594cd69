"""Signing the CA's revocation list: revoke a rental, or re-sign before nextUpdate.

Operator-side: needs the CA key. Readers (tracker, nodes) use `certs.crl`.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from cryptography import x509

from certs.authority.ca import CA, CRL_FILE
from certs.clock import resolve_now
from certs.crl import crl_pem, read_crl_file, verify_crl
from certs.identifiers import validate_serial
from support.atomic_write import write_atomic

__all__ = ["refresh_crl", "revoke"]


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _resign(
    ca_dir: str | os.PathLike[str],
    *,
    add_serial: int | None,
    now: datetime | None,
    next_update_hours: float,
) -> x509.CertificateRevocationList:
    """Load the CA and its current CRL, optionally add a serial, re-sign and write atomically."""
    ca = CA.load(ca_dir)
    path = Path(ca_dir) / CRL_FILE
    current = read_crl_file(path)
    verify_crl(current, ca.cert)
    issued = resolve_now(now)
    entries = {entry.serial_number: entry.revocation_date_utc for entry in current}
    if add_serial is not None:
        # Idempotent: revoking twice keeps the first revocation time.
        entries.setdefault(validate_serial(add_serial), issued)
    crl = ca.sign_crl(
        entries,
        now=issued,
        next_update_hours=next_update_hours,
        crl_number=_crl_number(current) + 1,
    )
    write_atomic(path, crl_pem(crl))
    return crl


def revoke(
    ca_dir: str | os.PathLike[str],
    serial: int,
    *,
    now: datetime | None = None,
    next_update_hours: float = 24.0,
) -> x509.CertificateRevocationList:
    """Add ``serial`` to ``ca_dir/crl.pem`` (idempotent), re-sign it and write it atomically.

    Raises `CertsError` if the CA or its CRL is missing, malformed or not signed by
    the CA, or the serial is out of range.
    """
    return _resign(ca_dir, add_serial=serial, now=now, next_update_hours=next_update_hours)


def refresh_crl(
    ca_dir: str | os.PathLike[str],
    *,
    now: datetime | None = None,
    next_update_hours: float = 24.0,
) -> x509.CertificateRevocationList:
    """Re-sign ``ca_dir/crl.pem`` with the same entries and a fresh next update."""
    return _resign(ca_dir, add_serial=None, now=now, next_update_hours=next_update_hours)
