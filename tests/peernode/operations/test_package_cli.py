"""`peernode package` as operators run it: real subprocesses, one-line errors, no leftovers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import libtorrent as lt
import pytest


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peernode.cli.main", "package", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    assert proc.stdout == ""


def _leftovers(library: Path, ca_dir: Path) -> list[str]:
    found = [p for p in library.rglob("*")] if library.exists() else []
    found += list((ca_dir / "keys").glob("*")) if (ca_dir / "keys").exists() else []
    return sorted(str(p) for p in found)


def test_package_prints_torrent_path_and_info_hash(
    film: Path, ca_dir: Path, library: Path, tracker: str
) -> None:
    proc = _run(
        film,
        "--film-id",
        "film-a",
        "--ca-dir",
        ca_dir,
        "--tracker",
        tracker,
        "--out",
        library,
        "--mime",
        "video/webm",
    )
    assert proc.returncode == 0, proc.stderr
    torrent_line, hash_line = proc.stdout.splitlines()
    torrent = Path(torrent_line)
    assert torrent == library.absolute() / "film-a.torrent"
    ti = lt.torrent_info(str(torrent))
    assert bytes.fromhex(hash_line) == ti.info_hashes().v2.to_bytes()[:20]
    assert (library / "film-a").is_file()
    assert (ca_dir / "keys" / "film-a.key").is_file()
    assert proc.stderr == ""  # not a terminal: no progress bar


def test_existing_film_id(film: Path, ca_dir: Path, library: Path, tracker: str) -> None:
    args = (film, "--film-id", "film-a", "--ca-dir", ca_dir, "--tracker", tracker, "--out", library)
    assert _run(*args).returncode == 0
    before = _leftovers(library, ca_dir)
    _assert_one_line_error(_run(*args), "already packaged")
    assert _leftovers(library, ca_dir) == before


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing-film", "does not exist"),
        ("bad-tracker", "tracker URL"),
        ("tracker-path", "/announce"),
        ("missing-ca", "does not exist"),
        ("bad-film-id", "invalid film id"),
        ("bad-mime", "MIME"),
    ],
)
def test_bad_input_one_line_error_nothing_written(
    case: str,
    fragment: str,
    film: Path,
    ca_dir: Path,
    library: Path,
    tracker: str,
    tmp_path: Path,
) -> None:
    film_arg: Path = tmp_path / "missing.mp4" if case == "missing-film" else film
    ca_arg = tmp_path / "no-ca" if case == "missing-ca" else ca_dir
    tracker_arg = {
        "bad-tracker": "http://127.0.0.1:8443/announce",
        "tracker-path": "https://127.0.0.1:8443/",
    }.get(case, tracker)
    film_id = "Film A" if case == "bad-film-id" else "film-a"
    extra = ["--mime", "nonsense"] if case == "bad-mime" else []
    proc = _run(
        film_arg,
        "--film-id",
        film_id,
        "--ca-dir",
        ca_arg,
        "--tracker",
        tracker_arg,
        "--out",
        library,
        *extra,
    )
    _assert_one_line_error(proc, fragment)
    assert _leftovers(library, ca_dir) == []


def test_help_names_the_contract_flags() -> None:
    proc = _run("--help")
    assert proc.returncode == 0
    for flag in ("--film-id", "--ca-dir", "--tracker", "--out", "--mime"):
        assert flag in proc.stdout
