"""`peernode demo`: the whole system on loopback, with a throwaway CA.

A tracker, an origin seeder and N customer clients, each its own process on its
own 127.0.0.x address, rented and started a second apart; then a table of where
each client's bytes came from and the swarm's CDN offload next to its limit
1 - 1/N, after checking that every client's film decrypts to the original.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import trio
from cryptography import x509

from certs import generate_node_key, load_node_key, open_rental, save_node_key
from certs.authority import CA, issue_rental_bundle
from peernode.container.stream import decrypt_file
from peernode.errors import PeernodeError
from peernode.operations.packaging import package_film
from support.processes import file_sha256, free_port, peernode_argv, wait_listening

__all__ = ["ClientResult", "DemoConfig", "DemoReport", "run_demo"]

Say = Callable[[str], None]


@dataclass(frozen=True)
class _Client:
    name: str
    address: str
    directory: Path
    process: trio.Process



@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs. Rates in bytes/s (applied to loopback peers too)."""

    clients: int = 4
    film: Path | None = None
    size_mb: float = 32.0
    origin_upload_bps: int = 4_000_000
    client_upload_bps: int = 4_000_000
    client_download_bps: int = 0
    origin_super_seed: bool = True
    stagger_s: float = 1.0
    timeout_s: float = 600.0
    workdir: Path | None = None


@dataclass(frozen=True)
class ClientResult:
    name: str
    address: str
    seconds: float
    bytes_from_origin: int
    bytes_from_peers: int
    bytes_uploaded: int
    decrypted_ok: bool


@dataclass(frozen=True)
class DemoReport:
    film_bytes: int
    clients: list[ClientResult] = field(default_factory=list)

    @property
    def origin_bytes(self) -> int:
        return sum(c.bytes_from_origin for c in self.clients)

    @property
    def delivered_bytes(self) -> int:
        return sum(c.bytes_from_origin + c.bytes_from_peers for c in self.clients)

    @property
    def offload(self) -> float:
        """1 - origin bytes / bytes delivered: the share the CDN did not bill."""
        return 1 - self.origin_bytes / self.delivered_bytes if self.delivered_bytes else 0.0

    @property
    def offload_limit(self) -> float:
        """With N clients the origin must send at least one copy: 1 - 1/N."""
        return 1 - 1 / len(self.clients) if self.clients else 0.0

    @property
    def ok(self) -> bool:
        return bool(self.clients) and all(c.decrypted_ok for c in self.clients)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "film_bytes": self.film_bytes,
            "clients": [c.__dict__ for c in self.clients],
            "origin_bytes": self.origin_bytes,
            "delivered_bytes": self.delivered_bytes,
            "origin_copies": self.origin_bytes / self.film_bytes if self.film_bytes else 0.0,
            "offload": self.offload,
            "offload_limit": self.offload_limit,
        }


def _last_status(path: Path) -> dict[str, object] | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record: dict[str, object] = json.loads(line)
        except ValueError:
            continue
        return record
    return None


def _make_film(cfg: DemoConfig, work: Path) -> Path:
    if cfg.film is not None:
        if not cfg.film.is_file():
            raise PeernodeError(f"film {cfg.film} does not exist")
        return cfg.film
    film = work / "film.mp4"
    remaining = int(cfg.size_mb * 1_000_000)
    with film.open("wb") as f:
        while remaining > 0:
            chunk = os.urandom(min(remaining, 1 << 20))
            f.write(chunk)
            remaining -= len(chunk)
    return film


async def run_demo(cfg: DemoConfig, *, out: TextIO = sys.stderr) -> DemoReport:
    """Run the demo in ``cfg.workdir`` (or a temporary directory); returns its report."""
    if cfg.clients < 1 or cfg.clients > 200:
        raise PeernodeError("--clients must be between 1 and 200")
    if cfg.workdir is not None:
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        return await _run(cfg, cfg.workdir, out)
    with tempfile.TemporaryDirectory(prefix="peernode-demo-") as tmp:
        return await _run(cfg, Path(tmp), out)


async def _run(cfg: DemoConfig, work: Path, out: TextIO) -> DemoReport:
    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    now = datetime.now(UTC)
    ca_dir, library = work / "ca", work / "library"
    ca = CA.create("peernode demo CA", now=now)
    ca.save(ca_dir)
    tracker_host, origin_host = "127.0.0.1", "127.0.0.2"
    tracker_port = free_port(tracker_host)
    server = ca.issue_server([tracker_host], now=now)
    seeder = ca.issue_seeder(now=now)
    for name, issued in (("server", server), ("seeder", seeder)):
        (work / f"{name}.pem").write_bytes(issued.cert_pem)
        key_path = work / f"{name}.key"
        key_path.touch(mode=0o600)
        key_path.write_bytes(issued.key_pem)

    film = _make_film(cfg, work)
    say(f"packaging {film.name} ({film.stat().st_size / 1e6:.1f} MB) ...")
    packaged = await trio.to_thread.run_sync(
        lambda: package_film(
            film, film_id="demo-film", ca_dir=ca_dir,
            tracker_url=f"https://{tracker_host}:{tracker_port}/announce", library=library,
        )
    )
    film_bytes = film.stat().st_size
    original = file_sha256(film)

    procs: list[trio.Process] = []
    async with trio.open_nursery() as nursery:
        try:
            tracker = await trio.lowlevel.open_process(peernode_argv(
                "tracker", "--ca", ca_dir / "ca.pem", "--cert", work / "server.pem",
                "--key", work / "server.key", "--library", library, "--crl", ca_dir / "crl.pem",
                "--listen", f"{tracker_host}:{tracker_port}",
            ), stderr=(work / "tracker.log").open("wb"))
            procs.append(tracker)
            await wait_listening(tracker_host, tracker_port, tracker, "the tracker")
            say(f"tracker on https://{tracker_host}:{tracker_port}/announce")
            origin_port = free_port(origin_host)
            origin = await trio.lowlevel.open_process(peernode_argv(
                "seed", "--library", library, "--cert", work / "seeder.pem",
                "--key", work / "seeder.key", "--listen", f"{origin_host}:{origin_port}",
                "--upload-limit", str(cfg.origin_upload_bps), "--limit-local-peers",
                *(["--super-seed"] if cfg.origin_super_seed else []),
            ), stderr=(work / "origin.log").open("wb"))
            procs.append(origin)
            await wait_listening(origin_host, origin_port, origin, "the origin seeder")
            say(f"origin seeder on {origin_host}:{origin_port} "
                f"(upload {cfg.origin_upload_bps / 1e6:.1f} MB/s)")
            await trio.sleep(1.0)  # let the origin's first announce reach the tracker

            clients = await _start_clients(cfg, work, ca, ca_dir, packaged.torrent_path, say)
            procs.extend(c.process for c in clients)
            await _watch(cfg, clients, say)
            for c in clients:
                c.process.send_signal(signal.SIGTERM)
            results = []
            for c in clients:
                with trio.move_on_after(15):
                    await c.process.wait()
                results.append(_collect(c, ca.cert, original))
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            with trio.CancelScope(shield=True), trio.move_on_after(15):
                for p in procs:
                    await p.wait()
            for p in procs:
                if p.returncode is None:
                    p.kill()
            nursery.cancel_scope.cancel()
    return DemoReport(film_bytes=film_bytes, clients=results)


async def _start_clients(
    cfg: DemoConfig, work: Path, ca: CA, ca_dir: Path, torrent: Path, say: Say
) -> list[_Client]:
    clients = []
    for i in range(cfg.clients):
        name = f"client-{i + 1}"
        client_dir = work / name
        key = generate_node_key()
        save_node_key(client_dir, key)
        now = datetime.now(UTC)
        bundle, _ = issue_rental_bundle(
            ca, ca_dir, "demo-film", key.public_key(),
            not_before=now - timedelta(minutes=1), not_after=now + timedelta(hours=48),
        )
        (client_dir / "rental.pvr").write_bytes(bundle)
        address = f"127.0.0.{10 + i}"
        proc = await trio.lowlevel.open_process(peernode_argv(
            "fetch", torrent, "--rental", client_dir / "rental.pvr",
            "--node-key", client_dir / "node.key", "--out", client_dir / "download",
            "--listen", f"{address}:0", "--upload-limit", str(cfg.client_upload_bps),
            "--download-limit", str(cfg.client_download_bps),
            "--limit-local-peers", "--seed-for", "3600", "--json",
            "--status-log", client_dir / "status.jsonl",
        ), stdout=(client_dir / "summary.json").open("wb"),
           stderr=(client_dir / "client.log").open("wb"))
        clients.append(_Client(name, address, client_dir, proc))
        say(f"{name} on {address} started")
        await trio.sleep(cfg.stagger_s)
    return clients


async def _watch(cfg: DemoConfig, clients: Sequence[_Client], say: Say) -> None:
    deadline = trio.current_time() + cfg.timeout_s
    last_line = 0.0
    while True:
        statuses = [_last_status(c.directory / "status.jsonl") for c in clients]
        done = [bool(s and s.get("complete")) for s in statuses]
        failed = [c.name for c in clients if c.process.returncode is not None]
        if failed:
            raise PeernodeError(f"{', '.join(failed)} exited early; see its client.log")
        if all(done):
            return
        if trio.current_time() - last_line >= 2.0:
            last_line = trio.current_time()
            parts = []
            for c, s in zip(clients, statuses, strict=True):
                progress = s.get("progress", 0.0) if s else 0.0
                pct = float(progress) * 100 if isinstance(progress, int | float) else 0.0
                parts.append(f"{c.name} {pct:5.1f}%")
            say("  ".join(parts))
        if trio.current_time() > deadline:
            raise PeernodeError(f"clients not complete after {cfg.timeout_s:.0f} s")
        await trio.sleep(0.5)


def _collect(client: _Client, ca_cert: x509.Certificate, original_sha256: str) -> ClientResult:
    """Read a client's JSON summary and check its film decrypts to the original."""
    d = client.directory
    lines = (d / "summary.json").read_text(encoding="utf-8").strip().splitlines()
    if not lines:
        raise PeernodeError(f"{client.name} printed no summary; see {d / 'client.log'}")
    summary = json.loads(lines[-1])
    rental = open_rental((d / "rental.pvr").read_bytes(), load_node_key(d / "node.key"), ca_cert)
    plain = d / "film.decrypted"
    with plain.open("wb") as dst:
        decrypt_file(d / "download" / summary["film_id"], rental.content_key,
                     summary["film_id"], dst)
    ok = file_sha256(plain) == original_sha256
    plain.unlink()
    return ClientResult(
        name=client.name, address=client.address, seconds=float(summary["seconds"]),
        bytes_from_origin=int(summary["bytes_from_origin"]),
        bytes_from_peers=int(summary["bytes_from_peers"]),
        bytes_uploaded=int(summary["bytes_uploaded"]), decrypted_ok=ok,
    )
