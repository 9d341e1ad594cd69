"""A client crashes repeatedly or runs out of disk: it resumes, loses nothing verified."""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import libtorrent as lt
import pytest

from .conftest import Swarm, wait_exit

KILLS = 4


def test_client_sigkilled_repeatedly_always_resumes_and_decrypts(swarm: Swarm) -> None:
    """SIGKILL at random moments (seeded) 4 times: every restart starts from at least the
    pieces saved before (none verified is lost), and the last run completes and decrypts."""
    _, origin = swarm.start_origin("2M")
    client = swarm.new_client("client", "127.0.0.51")
    n_pieces = lt.torrent_info(str(swarm.torrent)).num_pieces()
    rng = random.Random(9)
    saved: set[int] = set()
    for _ in range(KILLS):
        proc = swarm.fetch(client, "--peer", origin, "--resume-interval", "0.5")
        time.sleep(rng.uniform(0.5, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = {i for i, have in enumerate(client.pieces()[:n_pieces]) if have}
        assert saved <= now, f"verified pieces lost after a SIGKILL: {sorted(saved - now)}"
        saved = now
    assert len(saved) < n_pieces, "finished before the last kill: nothing tested"
    final = swarm.fetch(client, "--peer", origin)
    assert wait_exit(final, 120, "start") == 0, client.log.read_text()
    summary = client.summary()
    assert summary["complete"] is True
    piece_bytes = lt.torrent_info(str(swarm.torrent)).piece_length()
    # Only pieces not yet saved are fetched again (plus blocks of pieces in flight).
    missing = (n_pieces - len(saved)) * piece_bytes
    assert summary["bytes_downloaded_session"] <= missing + 4 * piece_bytes
    assert swarm.decrypted(client) == swarm.plaintext


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (needs mount rights: skipped without them), grown by remounting."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_disk_full_is_a_clear_error_and_the_partial_download_resumes(
    swarm: Swarm, small_disk: Path
) -> None:
    """The download directory is a 3 MiB tmpfs: one clear error line, exit 1, the pieces
    already written kept; once the disk is grown the download resumes without fetching
    them again, and decrypts."""
    # 2 MB/s: the disk fills over a couple of seconds, with resume data saved meanwhile.
    _, origin = swarm.start_origin("2M")
    client = swarm.new_client("client", "127.0.0.52")
    client.download = small_disk / "dl"
    full = swarm.fetch(client, "--peer", origin, "--timeout", "40", "--resume-interval", "0.5")
    assert wait_exit(full, 90, "start") == 1
    log = client.log.read_text()
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, log
    assert "No space left on device" in errors[0], errors[0]
    # The resume data may be gone (the full disk refused it; the stale one is removed
    # so the next start re-checks the file): what was written is kept on disk.
    assert (client.download / "fault-film").stat().st_blocks * 512 > 1_000_000

    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)
    again = swarm.fetch(client, "--peer", origin)
    assert wait_exit(again, 120, "start") == 0, client.log.read_text()
    summary = client.summary()
    assert summary["complete"] is True
    assert summary["bytes_downloaded_session"] < len(swarm.plaintext)
    assert swarm.decrypted(client) == swarm.plaintext


def test_disk_filled_before_the_first_resume_save_keeps_what_was_written(
    swarm: Swarm, small_disk: Path
) -> None:
    """A first run with no peer leaves resume data of no pieces. The second, from an
    unlimited origin, fills the 3 MiB disk within a second, and saving resume data then
    fails (same disk), so the stale file stays. The ~3 MB written and verified should
    not be downloaded again once the disk is grown."""
    _, origin = swarm.start_origin("0")
    client = swarm.new_client("client", "127.0.0.54")
    client.download = small_disk / "dl"
    alone = swarm.fetch(client, "--timeout", "2")
    assert wait_exit(alone, 60, "start") == 1
    assert (client.download / ".peernode" / "fault-film.resume").exists()
    full = swarm.fetch(client, "--peer", origin, "--timeout", "40")
    assert wait_exit(full, 90, "start") == 1
    assert (client.download / "fault-film").stat().st_blocks * 512 > 2_000_000
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)
    again = swarm.fetch(client, "--peer", origin)
    assert wait_exit(again, 120, "start") == 0, client.log.read_text()
    summary = client.summary()
    assert swarm.decrypted(client) == swarm.plaintext
    assert summary["bytes_downloaded_session"] < len(swarm.plaintext) - 2_000_000


def test_rlimit_fsize_below_the_film_fails_at_once_with_a_clear_error(swarm: Swarm) -> None:
    """RLIMIT_FSIZE under the film's size: libtorrent sizes the file first, so the fetch
    fails at its first write with one clear line (EFBIG), not a traceback or a hang."""
    _, origin = swarm.start_origin("0")
    client = swarm.new_client("client", "127.0.0.53")
    limit = 3_000_000

    def small_file_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = swarm.fetch(client, "--peer", origin, "--timeout", "40", preexec_fn=small_file_limit)
    assert wait_exit(proc, 90, "start") == 1
    log = client.log.read_text()
    assert "Traceback" not in log
    errors = [line for line in log.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, log
    assert "File too large" in errors[0], errors[0]
