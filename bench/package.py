"""Benchmark: packaging throughput against the speed of its two primitives on one core.

Packages a file of random bytes (default 512 MiB) five times with `package_film`
(encrypt + write the container, then libtorrent's v2 piece hashing) and, interleaved
with those runs so that machine noise hits both alike, measures AES-256-GCM
(cryptography, 1 MiB buffers) and SHA-256 (hashlib, 1 MiB buffers) on one core.
Prints one JSON line; MB = 10**6 bytes, figures are medians::

    ratio = package_MBps / (1 / (1/aes_MBps + 1/sha256_MBps))

i.e. packaging against doing both primitives back to back on one core (goal >= 0.8).
`--dir` chooses the file system: the default temp dir measures the disk too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certs.authority import CA
from peernode.operations.packaging import package_film

MB = 1_000_000
MIB = 1024 * 1024
PRIMITIVE_BYTES = 256 * MIB


def aes_mbps(buf: bytes) -> float:
    """AES-256-GCM seal of PRIMITIVE_BYTES in 1 MiB calls, MB/s."""
    aead = AESGCM(os.urandom(32))
    out = bytearray(len(buf) + 16)
    nonce = bytes(12)  # throughput only: nothing here is ever decrypted
    start = time.perf_counter()
    for _ in range(PRIMITIVE_BYTES // len(buf)):
        aead.encrypt_into(nonce, buf, None, out)
    return PRIMITIVE_BYTES / (time.perf_counter() - start) / MB


def sha256_mbps(buf: bytes) -> float:
    """SHA-256 of PRIMITIVE_BYTES in 1 MiB updates, MB/s."""
    h = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(PRIMITIVE_BYTES // len(buf)):
        h.update(buf)
    h.digest()
    return PRIMITIVE_BYTES / (time.perf_counter() - start) / MB


def package_once(work: Path, film: Path, ca_dir: Path, size: int) -> dict[str, float]:
    """One packaging run in a fresh library; returns MB/s and each phase's seconds.

    encrypt_s: reading, encrypting and writing the container; sync_s: from the last
    encrypted batch to libtorrent's first hashed piece; hash_s: the rest (libtorrent
    hashing the container while it is flushed to disk, then placing the files).
    """
    library = work / "library"
    shutil.rmtree(library, ignore_errors=True)
    shutil.rmtree(ca_dir / "keys", ignore_errors=True)
    last_encrypt = first_hash = 0.0

    def progress(phase: str, _done: int, _total: int) -> None:
        nonlocal last_encrypt, first_hash
        if phase == "encrypt":
            last_encrypt = time.perf_counter()
        elif not first_hash:
            first_hash = time.perf_counter()

    start = time.perf_counter()
    package_film(
        film,
        film_id="bench-film",
        ca_dir=ca_dir,
        tracker_url="https://127.0.0.1:8443/announce",
        library=library,
        on_progress=progress,
    )
    end = time.perf_counter()
    return {
        "MBps": size / (end - start) / MB,
        "encrypt_s": last_encrypt - start,
        "sync_s": first_hash - last_encrypt,
        "hash_s": end - first_hash,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512, help="film size (default 512)")
    parser.add_argument("--runs", type=int, default=5, help="runs, median reported (default 5)")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: temp)")
    args = parser.parse_args()
    size = args.size_mib * MIB
    buf = os.urandom(MIB)
    with tempfile.TemporaryDirectory(prefix="bench-package-", dir=args.dir) as tmp:
        work = Path(tmp)
        film = work / "film.bin"
        with film.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MIB))
        ca_dir = work / "ca"
        CA.create("bench CA").save(ca_dir)
        runs: list[dict[str, Any]] = []
        for _ in range(args.runs):
            run = package_once(work, film, ca_dir, size)
            run["aes_MBps"] = aes_mbps(buf)
            run["sha256_MBps"] = sha256_mbps(buf)
            runs.append(run)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    package, aes, sha = median("MBps"), median("aes_MBps"), median("sha256_MBps")
    combined = 1 / (1 / aes + 1 / sha)
    print(
        json.dumps(
            {
                "bench": "package",
                "size_mib": args.size_mib,
                "dir": str(args.dir or tempfile.gettempdir()),
                "package_MBps": round(package, 1),
                "aes_MBps": round(aes, 1),
                "sha256_MBps": round(sha, 1),
                "primitives_one_core_MBps": round(combined, 1),
                "ratio": round(package / combined, 3),
                "encrypt_s": round(median("encrypt_s"), 3),
                "sync_s": round(median("sync_s"), 3),
                "hash_s": round(median("hash_s"), 3),
                "hashing": "lt.set_piece_hashes (re-reads the container; no set_hash2 binding)",
                "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
            }
        )
    )


if __name__ == "__main__":
    main()
