"""Fixtures for packaging tests: a throwaway operator CA directory and a small film."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import pytest

from certs.authority import CA
from peernode.operations.packaging import PackagedFilm, package_film

TRACKER = "https://127.0.0.1:8443/announce"


@pytest.fixture
def ca_dir(tmp_path: Path, ca: CA) -> Path:
    directory = tmp_path / "ca"
    ca.save(directory)
    return directory


@pytest.fixture
def film(tmp_path: Path) -> Path:
    path = tmp_path / "film.mp4"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 4321))
    return path


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return tmp_path / "library"


@pytest.fixture
def tracker() -> str:
    return TRACKER


class Package(Protocol):
    def __call__(self, **overrides: Any) -> PackagedFilm: ...


@pytest.fixture
def package(film: Path, ca_dir: Path, library: Path, tracker: str) -> Package:
    """package(**overrides): package_film of the `film` fixture as film-a, with overrides."""

    def run(**overrides: Any) -> PackagedFilm:
        args: dict[str, Any] = {
            "film": film,
            "film_id": "film-a",
            "ca_dir": ca_dir,
            "tracker_url": tracker,
            "library": library,
        }
        args.update(overrides)
        return package_film(args.pop("film"), **args)

    return run
