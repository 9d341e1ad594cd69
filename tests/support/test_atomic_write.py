"""Atomic writes: whole or nothing, 0600 for secrets, directory entries made durable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import support.atomic_write as aw


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_atomic_replaces_and_fsyncs_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = aw.fsync_directory
    monkeypatch.setattr(aw, "fsync_directory", lambda p: (synced.append(Path(p)), real(p)))
    target = tmp_path / "sub" / "file.bin"
    aw.write_atomic(target, b"one")
    aw.write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert synced == [target.parent, target.parent]
    assert _leftovers(target.parent) == []


def test_write_private_is_0600(tmp_path: Path) -> None:
    path = aw.write_private(tmp_path / "secret", b"k")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_new_private_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "key"
    aw.write_new_private(target, b"first")
    with pytest.raises(FileExistsError):
        aw.write_new_private(target, b"second")
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        aw.write_atomic(tmp_path / "f", b"data")
    with pytest.raises(OSError, match="No space"):
        aw.write_new_private(tmp_path / "g", b"data")
    assert list(tmp_path.iterdir()) == []
