"""Write a film's container and compute its BEP 52 hashes in one pass over the ciphertext.

The main thread reads the plaintext and seals it batch by batch (AES-GCM is the
cheap primitive here); each sealed batch then goes, at the same time, to a writer
thread and to a pool of hash threads that compute its 16 KiB leaf hashes and fold
them into subtree roots (up to one per piece). Both write(2) and hashlib release the
GIL, so on two cores the hashing runs beside the encryption and the I/O instead of
after them. Batches are retired in file order: their subtree roots feed a
`FileMerkle`, and their buffer is reused, so memory is a few batches whatever the
film's size.

The container is written with ``O_DIRECT`` where the file system allows it: the
ciphertext is not read back, so copying it into the page cache would only cost CPU
(as much as the SHA-256 hashing, measured on the project's VM) and evict other
files. Buffers are page-aligned anonymous maps; the final write is padded to the
alignment and the file truncated back to its size. Where ``O_DIRECT`` is refused
(open or first write fails with ``EINVAL``) the writer falls back to buffered I/O.
The file is fsynced before this returns.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from peernode.container.header import ContainerHeader
from peernode.container.stream import SegmentSealer
from peernode.errors import ContainerError
from peernode.operations.merkle import (
    LEAF_BYTES,
    FileMerkle,
    V2FileHashes,
    leaf_hashes,
    subtree_roots,
)

__all__ = ["DEFAULT_BATCH_BYTES", "default_hash_threads", "write_hashed_container"]

DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
_DIRECT_ALIGN = 4096  # a multiple of every logical block size O_DIRECT may ask for
_MAX_HASH_THREADS = 4


def default_hash_threads() -> int:
    """Hash threads to use: one per CPU this process may run on (at most 4), none on one CPU.

    With one CPU a hash thread only costs: hashlib releases the GIL for every 16 KiB
    leaf, and each release hands the CPU to the thread waiting for the GIL (a context
    switch per leaf, measured at ~20 % more CPU time). With zero hash threads the
    leaves are hashed in the calling thread, where those releases are uncontended.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus <= 1 else min(_MAX_HASH_THREADS, cpus)


def write_hashed_container(
    src: _Source,
    path: Path,
    *,
    header: ContainerHeader,
    key: bytes,
    piece_bytes: int,
    hash_threads: int | None = None,
    direct_io: bool = True,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_encrypted: Callable[[int], None] | None = None,
    on_hashed: Callable[[int], None] | None = None,
) -> V2FileHashes:
    """Create ``path`` (it must not exist) holding ``src`` sealed as the container ``header``.

    Reads exactly ``header.plaintext_bytes`` from ``src`` (a binary file; unbuffered
    is fastest). ``key``: the 32-byte content key. ``piece_bytes``: the torrent's
    piece size (a power of two >= 16 KiB). ``hash_threads``: threads hashing batches
    (0: this thread hashes them; default `default_hash_threads`). ``batch_bytes`` is
    rounded to whole segments and leaves. Progress, called in this thread:
    ``on_encrypted(plaintext bytes sealed so far)``, ``on_hashed(container bytes
    hashed and written so far)``.
    Returns the container's hashes. Raises `ContainerError` if ``src`` holds fewer or
    more bytes than declared, `OSError` on I/O errors; on any failure ``path`` is
    removed.
    """
    sealer = SegmentSealer(header, key)
    merkle = FileMerkle(piece_bytes)
    threads = default_hash_threads() if hash_threads is None else hash_threads
    segments_per_batch = _segments_per_batch(header.segment_bytes, batch_bytes)
    out = _ContainerFile(path, direct_io)
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="container-write") as writer,
            ThreadPoolExecutor(max(1, threads), thread_name_prefix="container-hash") as pool,
        ):
            _run(
                src,
                out,
                sealer,
                merkle,
                segments_per_batch,
                _subtree_height(merkle, segments_per_batch * header.segment_bytes, header),
                threads + 2,
                writer,
                pool if threads else None,
                on_encrypted,
                on_hashed,
            )
        out.finish(header.container_bytes())
    except BaseException:
        out.close()
        path.unlink(missing_ok=True)
        raise
    out.close()
    return merkle.finish(header.container_bytes())


def _segments_per_batch(segment_bytes: int, batch_bytes: int) -> int:
    # Segments are powers of two: a batch of whole segments that is also a whole number
    # of leaves and of O_DIRECT blocks keeps every batch but the last aligned.
    unit = max(segment_bytes, LEAF_BYTES, _DIRECT_ALIGN)
    return max(1, batch_bytes // unit) * (unit // segment_bytes)


def _subtree_height(merkle: FileMerkle, batch_bytes: int, header: ContainerHeader) -> int:
    # Hash threads fold each batch into subtrees as high as every batch (which starts
    # at a multiple of batch_bytes) is made of whole ones, and at most a piece; a file
    # of one piece is handed over as leaves (its tree is only as wide as the file).
    if header.container_bytes() <= merkle.piece_bytes:
        return 0
    batch_leaves = batch_bytes // LEAF_BYTES
    return min(merkle.piece_height, (batch_leaves & -batch_leaves).bit_length() - 1)


def _hash_batch(data: memoryview, height: int) -> bytes:
    return subtree_roots(leaf_hashes(data), height)


class _Batch:
    """One reusable page-aligned buffer of whole file segments, and its work in flight."""

    def __init__(self, capacity: int) -> None:
        # Anonymous maps are page-aligned, as O_DIRECT needs; freed with the last view.
        self.view = memoryview(mmap.mmap(-1, capacity))
        self.end_offset = 0
        self.leaves = 0
        self.written: Future[None] | None = None
        self.hashed: Future[bytes] | None = None


class _Source(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...
    def read(self, size: int = -1, /) -> bytes: ...


def _run(
    src: _Source,
    out: _ContainerFile,
    sealer: SegmentSealer,
    merkle: FileMerkle,
    segments_per_batch: int,
    height: int,
    slots: int,
    writer: ThreadPoolExecutor,
    hasher: ThreadPoolExecutor | None,
    on_encrypted: Callable[[int], None] | None,
    on_hashed: Callable[[int], None] | None,
) -> None:
    header = sealer.header
    seg_bytes, seg_plain = header.segment_bytes, header.plaintext_segment_bytes
    total_plain = header.plaintext_bytes
    file_segments = header.segment_count() + 1  # the header is file segment 0
    plain = memoryview(bytearray(segments_per_batch * seg_plain))
    free = [_Batch(segments_per_batch * seg_bytes) for _ in range(slots)]
    in_flight: deque[_Batch] = deque()

    def retire() -> None:
        batch = in_flight.popleft()
        assert batch.written is not None
        assert batch.hashed is not None
        batch.written.result()
        merkle.add_subtree_roots(batch.hashed.result(), height, batch.leaves)
        free.append(batch)
        if on_hashed is not None:
            on_hashed(batch.end_offset)

    offset = 0
    for first in range(0, file_segments, segments_per_batch):
        stop = min(file_segments, first + segments_per_batch)
        if not free:
            retire()
        batch = free.pop()
        length = 0
        if first == 0:
            batch.view[:seg_bytes] = sealer.header_segment()
            length = seg_bytes
        sealed_first, sealed_stop = max(0, first - 1), stop - 1  # ciphertext segment indices
        if sealed_stop > sealed_first:
            start_byte = sealed_first * seg_plain
            plain_done = min(total_plain, sealed_stop * seg_plain)
            chunk = _read_exactly(src, plain[: plain_done - start_byte], start_byte, total_plain)
            length += sealer.seal(sealed_first, chunk, batch.view[length:])
        batch.end_offset = offset + length
        batch.leaves = -(-length // LEAF_BYTES)
        batch.written = writer.submit(out.write_at, batch.view, offset, length)
        if hasher is not None:
            batch.hashed = hasher.submit(_hash_batch, batch.view[:length], height)
        else:  # hashed here, while the writer thread writes the batch
            batch.hashed = Future()
            batch.hashed.set_result(_hash_batch(batch.view[:length], height))
        in_flight.append(batch)
        offset += length
        if on_encrypted is not None and sealed_stop > sealed_first:
            on_encrypted(plain_done)
    if src.read(1):
        raise ContainerError(f"source holds more than the declared {total_plain} bytes")
    while in_flight:
        retire()


def _read_exactly(src: _Source, into: memoryview, done: int, total: int) -> memoryview:
    got = 0
    while got < into.nbytes:  # short reads happen on pipes; files fill it at once
        n = src.readinto(into[got:])
        if not n:
            raise ContainerError(f"source ended after {done + got} of {total} bytes")
        got += n
    return into


class _ContainerFile:
    """The container being written: ``O_DIRECT`` when the file system takes it."""

    def __init__(self, path: Path, direct_io: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        direct_flag = getattr(os, "O_DIRECT", 0)
        self.direct = False
        self._padded = False
        if direct_io and direct_flag:
            try:
                self.fd = os.open(path, flags | direct_flag, 0o666)
                self.direct = True
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
        if not self.direct:
            self.fd = os.open(path, flags, 0o666)

    def write_at(self, view: memoryview, offset: int, length: int) -> None:
        """Write ``view[:length]`` at ``offset`` (called from the one writer thread)."""
        if self.direct:
            padded = -(-length // _DIRECT_ALIGN) * _DIRECT_ALIGN  # room: batches are aligned
            try:
                _pwrite_all(self.fd, view[:padded], offset)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self._stop_direct()  # the file system takes O_DIRECT opens, not writes
            else:
                self._padded |= padded != length
                return
        _pwrite_all(self.fd, view[:length], offset)

    def _stop_direct(self) -> None:
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))
        self.direct = False

    def finish(self, size: int) -> None:
        """Cut the alignment padding off the end and make the file durable."""
        if self._padded:
            os.ftruncate(self.fd, size)
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data.nbytes:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n
