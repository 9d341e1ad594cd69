"""End to end on loopback with real processes: tracker, origin, clients."""

from __future__ import annotations

from pathlib import Path

from peernode.cli.demo import decrypts_to_original
from sim.demo import DemoConfig, run_demo


async def test_tracker_origin_and_three_clients_share_and_decrypt(tmp_path: Path) -> None:
    cfg = DemoConfig(clients=3, size_mb=8.0, origin_upload_bps=2_000_000,
                     client_upload_bps=4_000_000, stagger_s=0.5, timeout_s=120,
                     workdir=tmp_path)
    report = await run_demo(cfg, decrypts_to_original, out=(tmp_path / "demo.log").open("w"))
    assert report.ok, "every client's film decrypts to the original"
    assert len(report.clients) == 3
    assert report.origin_bytes < 3 * report.film_bytes, "peers shared: origin sent < 3 copies"
    assert sum(c.bytes_from_peers for c in report.clients) > 0
    for c in report.clients:
        assert c.bytes_from_origin + c.bytes_from_peers >= report.film_bytes
