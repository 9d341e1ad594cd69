"""Packaging publishes in a durable order: the content key exists before the torrent does."""

from __future__ import annotations

from pathlib import Path

import pytest

from certs.authority.keystore import content_key_path
from peernode.operations import packaging
from peernode.operations.packaging import PackagingError

from .conftest import Package


def test_the_key_is_stored_before_anything_is_published(
    package: Package, ca_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, bool]] = []
    real = packaging._link_no_clobber

    def spy(staged: Path, target: Path, film_id: str) -> None:
        seen.append((target.suffix or "container", content_key_path(ca_dir, film_id).exists()))
        real(staged, target, film_id)

    monkeypatch.setattr(packaging, "_link_no_clobber", spy)
    package()
    assert seen == [("container", True), (".torrent", True)]


def test_a_failure_while_publishing_removes_the_key_and_the_container(
    package: Package, ca_dir: Path, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = packaging._link_no_clobber

    def fail_on_torrent(staged: Path, target: Path, film_id: str) -> None:
        if target.suffix == ".torrent":
            raise PackagingError("simulated failure while publishing the torrent")
        real(staged, target, film_id)

    monkeypatch.setattr(packaging, "_link_no_clobber", fail_on_torrent)
    with pytest.raises(PackagingError, match="simulated"):
        package()
    assert not content_key_path(ca_dir, "film-a").exists()
    assert [p for p in library.rglob("*") if p.is_file()] == []
