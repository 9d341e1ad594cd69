"""Packaging refuses bad input and never leaves anything half-written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from peernode.operations.packaging import PackagingError


def _snapshot(*dirs: Path) -> list[str]:
    return sorted(str(p) for d in dirs if d.exists() for p in d.rglob("*"))


def test_existing_film_id_is_refused(package, ca_dir: Path, library: Path) -> None:
    package()
    before = _snapshot(library, ca_dir)
    torrent = (library / "film-a.torrent").read_bytes()
    with pytest.raises(PackagingError, match="already packaged"):
        package()
    assert _snapshot(library, ca_dir) == before
    assert (library / "film-a.torrent").read_bytes() == torrent


@pytest.mark.parametrize("existing", ["film-a", "film-a.torrent", "key"])
def test_any_existing_file_of_the_film_is_refused(
    package, ca_dir: Path, library: Path, existing: str
) -> None:
    path = ca_dir / "keys" / "film-a.key" if existing == "key" else library / existing
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"precious")
    with pytest.raises(PackagingError, match="already packaged"):
        package()
    assert path.read_bytes() == b"precious"


def test_content_key_appearing_meanwhile_rolls_everything_back(
    package, ca_dir: Path, library: Path
) -> None:
    # Another packaging of the same id stores its key while this one hashes:
    # saving the key fails last, and the container and torrent placed just before
    # must be removed again.
    key_path = ca_dir / "keys" / "film-a.key"

    def race(phase: str, _done: int, _total: int) -> None:
        if phase == "hash" and not key_path.exists():
            key_path.parent.mkdir(mode=0o700, exist_ok=True)
            key_path.write_bytes(b"k" * 32)
            os.chmod(key_path, 0o600)

    with pytest.raises(PackagingError, match="already has a content key"):
        package(on_progress=race)
    assert list(library.iterdir()) == []
    assert key_path.read_bytes() == b"k" * 32


def test_container_appearing_meanwhile_is_not_overwritten(
    package, ca_dir: Path, library: Path
) -> None:
    target = library / "film-a"

    def race(phase: str, _done: int, _total: int) -> None:
        if phase == "hash" and not target.exists():
            target.write_bytes(b"someone else's")

    with pytest.raises(PackagingError, match="already packaged"):
        package(on_progress=race)
    assert target.read_bytes() == b"someone else's"
    assert sorted(p.name for p in library.iterdir()) == ["film-a"]
    assert not (ca_dir / "keys" / "film-a.key").exists()


def test_interrupt_while_encrypting_leaves_nothing(package, ca_dir: Path, library: Path) -> None:
    def interrupt(phase: str, _done: int, _total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        package(on_progress=interrupt)
    assert list(library.iterdir()) == []
    assert not (ca_dir / "keys").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"film_id": "Film_A"}, "invalid film id"),
        ({"tracker_url": "http://t.example/announce"}, "https://"),
        ({"mime_type": "not a mime"}, "MIME"),
    ],
)
def test_bad_input_leaves_nothing(
    package, ca_dir: Path, library: Path, change: dict[str, str], message: str
) -> None:
    with pytest.raises(PackagingError, match=message):
        package(**change)
    assert _snapshot(library) == []
    assert not (ca_dir / "keys").exists()


def test_missing_film_and_directory_film(package, tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="does not exist"):
        package(film=tmp_path / "nope.mp4")
    with pytest.raises(PackagingError, match="not a regular file"):
        package(film=tmp_path)


def test_ca_dir_problems(package, tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="does not exist"):
        package(ca_dir=tmp_path / "no-ca")
    empty = tmp_path / "empty-ca"
    empty.mkdir()
    with pytest.raises(PackagingError, match=r"no ca\.pem"):
        package(ca_dir=empty)
    (empty / "ca.pem").write_text("garbage")
    with pytest.raises(PackagingError, match="cannot load CA certificate"):
        package(ca_dir=empty)
