"""The CRL the service publishes: its revoked rentals, merged with what the file lists.

The file may also hold serials revoked by hand (``peernode ca revoke``); they are
kept. Each CRL gets the next CRLNumber, so trackers (which refuse an older CRL)
take it. Building is pure; `publish_crl` reads and writes the file (atomically).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from certs.authority.ca import CA
from certs.crl import crl_pem, read_crl_file, verify_crl
from certs.errors import CertsError
from support.atomic_write import write_atomic

__all__ = ["build_crl", "publish_crl"]

log = logging.getLogger("rentals")


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def build_crl(
    ca: CA,
    revoked: Mapping[int, datetime],
    current: x509.CertificateRevocationList | None,
    *,
    now: datetime,
    next_update: timedelta,
) -> x509.CertificateRevocationList:
    """A CRL listing ``revoked`` and every entry of ``current``, numbered after it."""
    entries = {} if current is None else {e.serial_number: e.revocation_date_utc for e in current}
    for serial, when in revoked.items():
        entries[serial] = min(when, entries.get(serial, when))
    return ca.sign_crl(
        entries,
        now=now,
        next_update_hours=next_update.total_seconds() / 3600,
        crl_number=(0 if current is None else _crl_number(current)) + 1,
    )


def publish_crl(
    ca: CA, path: Path, revoked: Mapping[int, datetime], *, now: datetime, next_update: timedelta
) -> x509.CertificateRevocationList:
    """Write the CRL at ``path`` (atomically) with ``revoked`` added to what it lists.

    A file that is missing, unreadable or not signed by the CA is replaced (logged):
    the store holds the service's revocations, so nothing of its own is lost.
    """
    current = None
    if path.exists():
        try:
            current = read_crl_file(path)
            verify_crl(current, ca.cert)
        except CertsError as e:
            log.error("replacing the CRL at %s: %s", path, e)
            current = None
    crl = build_crl(ca, revoked, current, now=now, next_update=next_update)
    write_atomic(path, crl_pem(crl))
    return crl
