"""Benchmark: packaging throughput against the speed of its two primitives on one core.

Packages a file of random bytes (default 512 MiB) with `package_film` (encrypt, hash
the BEP 52 trees in hash threads while writing the container, write the v2 torrent)
several times, each run three ways: on both cores, pinned to one core
(``sched_setaffinity``: the hash and writer threads share it), and on both cores with
the container written through the page cache instead of ``O_DIRECT``. Interleaved
with those runs, so that machine noise hits all alike, it measures AES-256-GCM
(cryptography, 1 MiB buffers) and SHA-256 (hashlib, 1 MiB buffers) on one core.
Prints one JSON line; MB = 10**6 bytes, figures are medians::

    bound_1_core  = 1 / (1/aes_MBps + 1/sha256_MBps)   # both primitives back to back
    ratio         = package_1_core_MBps / bound_1_core  # goal >= 0.8
    ratio_2_cores = package_MBps (both cores) / bound_1_core
    ratio_2_cores_vs_2_core_bound = package_MBps / (2 * bound_1_core)

The machine is shared, so wall-clock figures move with the load (``loadavg_1min``);
CPU time moves much less: ``ratio_cpu`` = CPU seconds per GB of the two primitives /
CPU seconds per GB of packaging (all threads), i.e. the single-core ratio packaging
would reach on a core of its own with the I/O waits hidden.

``peak_rss_MiB`` is the process's peak resident set over the whole bench (the film
is written in 1 MiB chunks, the primitives use 1 MiB buffers), beside the resident
set before the first packaging: with ``--size 4G`` it shows packaging runs in
constant memory. `--dir` chooses the file system: the default temp dir measures the
disk too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certs.authority import CA
from peernode.operations.packaging import package_film

MB = 1_000_000
MIB = 1024 * 1024
PRIMITIVE_BYTES = 256 * MIB


def aes_mbps(buf: bytes) -> tuple[float, float]:
    """AES-256-GCM seal of PRIMITIVE_BYTES in 1 MiB calls: MB/s and CPU seconds per GB."""
    aead = AESGCM(os.urandom(32))
    out = bytearray(len(buf) + 16)
    nonce = bytes(12)  # throughput only: nothing here is ever decrypted
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(PRIMITIVE_BYTES // len(buf)):
        aead.encrypt_into(nonce, buf, None, out)
    return _rates(start, cpu)


def sha256_mbps(buf: bytes) -> tuple[float, float]:
    """SHA-256 of PRIMITIVE_BYTES in 1 MiB updates: MB/s and CPU seconds per GB."""
    h = hashlib.sha256()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(PRIMITIVE_BYTES // len(buf)):
        h.update(buf)
    h.digest()
    return _rates(start, cpu)


def _rates(start: float, cpu: float) -> tuple[float, float]:
    wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    return PRIMITIVE_BYTES / wall_s / MB, cpu_s / PRIMITIVE_BYTES * 1e9


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run the block (and the threads it starts) on ``cpus`` only; None: no change."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def package_once(
    work: Path, film: Path, ca_dir: Path, size: int, *, cpus: set[int] | None, direct_io: bool
) -> dict[str, float]:
    """One packaging run in a fresh library: MB/s and CPU seconds per plaintext GB."""
    library = work / "library"
    shutil.rmtree(library, ignore_errors=True)
    shutil.rmtree(ca_dir / "keys", ignore_errors=True)
    with pinned(cpus):
        start, cpu_start = time.perf_counter(), time.process_time()
        package_film(
            film,
            film_id="bench-film",
            ca_dir=ca_dir,
            tracker_url="https://127.0.0.1:8443/announce",
            library=library,
            direct_io=direct_io,
        )
        end, cpu_end = time.perf_counter(), time.process_time()
    return {"MBps": size / (end - start) / MB, "cpu_s_per_GB": (cpu_end - cpu_start) / size * 1e9}


def direct_io_works(directory: Path) -> bool:
    """Whether ``directory``'s file system takes an aligned O_DIRECT write."""
    import mmap

    probe = directory / ".direct-probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    except (OSError, AttributeError):
        return False
    try:
        os.write(fd, mmap.mmap(-1, 4096))
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()
    return True


def parse_size(text: str) -> int:
    """``512M``, ``4G``, ``1048576``: binary units (M = MiB, G = GiB)."""
    m = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (e.g. 512M, 4G)")
    return int(m.group(1)) * 1024 ** " KMG".index(m.group(2).upper() or " ")


def write_film(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(MIB, left)
            f.write(os.urandom(n))
            left -= n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=None, help="film size (default 512M)")
    parser.add_argument("--size-mib", type=int, default=512, help="film size in MiB (old option)")
    parser.add_argument("--runs", type=int, default=5, help="runs, median reported (default 5)")
    parser.add_argument("--dir", type=Path, default=None, help="where to work (default: temp)")
    args = parser.parse_args()
    size = args.size if args.size is not None else args.size_mib * MIB
    buf = os.urandom(MIB)
    cpus = sorted(os.sched_getaffinity(0))
    one_core = {cpus[-1]}
    with tempfile.TemporaryDirectory(prefix="bench-package-", dir=args.dir) as tmp:
        work = Path(tmp)
        film = work / "film.bin"
        write_film(film, size)
        ca_dir = work / "ca"
        CA.create("bench CA").save(ca_dir)
        direct = direct_io_works(work)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        runs: list[dict[str, Any]] = []
        for _ in range(args.runs):
            both = package_once(work, film, ca_dir, size, cpus=None, direct_io=True)
            one = package_once(work, film, ca_dir, size, cpus=one_core, direct_io=True)
            buffered = package_once(work, film, ca_dir, size, cpus=None, direct_io=False)
            runs.append(
                {
                    "MBps": both["MBps"],
                    "cpu_s_per_GB": both["cpu_s_per_GB"],
                    "1_core_MBps": one["MBps"],
                    "buffered_MBps": buffered["MBps"],
                    "buffered_cpu_s_per_GB": buffered["cpu_s_per_GB"],
                }
            )
            runs[-1]["aes_MBps"], runs[-1]["aes_cpu_s_per_GB"] = aes_mbps(buf)
            runs[-1]["sha256_MBps"], runs[-1]["sha256_cpu_s_per_GB"] = sha256_mbps(buf)
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    package, package_1 = median("MBps"), median("1_core_MBps")
    aes, sha = median("aes_MBps"), median("sha256_MBps")
    bound = 1 / (1 / aes + 1 / sha)
    primitives_cpu = median("aes_cpu_s_per_GB") + median("sha256_cpu_s_per_GB")
    print(
        json.dumps(
            {
                "bench": "package",
                "size_MiB": round(size / MIB, 3),
                "dir": str(args.dir or tempfile.gettempdir()),
                "container_write": "O_DIRECT" if direct else "buffered (no O_DIRECT here)",
                "cpus": len(cpus),
                "package_MBps": round(package, 1),
                "package_1_core_MBps": round(package_1, 1),
                "package_buffered_MBps": round(median("buffered_MBps"), 1),
                "cpu_s_per_GB": round(median("cpu_s_per_GB"), 3),
                "buffered_cpu_s_per_GB": round(median("buffered_cpu_s_per_GB"), 3),
                "aes_MBps": round(aes, 1),
                "sha256_MBps": round(sha, 1),
                "primitives_one_core_MBps": round(bound, 1),
                "ratio": round(package_1 / bound, 3),
                "ratio_2_cores": round(package / bound, 3),
                "ratio_2_cores_vs_2_core_bound": round(package / (2 * bound), 3),
                "ratio_buffered_2_cores": round(median("buffered_MBps") / bound, 3),
                "primitives_cpu_s_per_GB": round(primitives_cpu, 3),
                "ratio_cpu": round(primitives_cpu / median("cpu_s_per_GB"), 3),
                "rss_before_MiB": round(rss_before, 1),
                "peak_rss_MiB": round(peak_rss, 1),
                "runs_n": len(runs),
                "loadavg_1min": round(os.getloadavg()[0], 2),
                "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
            }
        )
    )


if __name__ == "__main__":
    main()
