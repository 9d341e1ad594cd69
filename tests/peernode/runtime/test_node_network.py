"""A customer node on real networks: dual-stack sockets, a kept port, port mapping consent,
IPv6 transfers and the pinned operator CA (real libtorrent sessions on loopback).

Port mapping on loopback: libtorrent starts no UPnP/NAT-PMP client for loopback
sockets, so "mapping on" here never reaches a router; tests that listen on every
interface pass --no-port-mapping (nothing may leave loopback). Real routers are
tested in tests/netlab/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing

from certs import generate_node_key, save_node_key
from certs.authority import CA, IssuedCert, make_rental_bundle
from peernode.errors import PeernodeError
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.port_mapping import DISABLED, NO_ROUTER
from peernode.runtime.session_settings import NETWORK_RECHECK_S

from .conftest import FILM_ID, Film, RentalFactory, make_torrent

PEERNODE = [sys.executable, "-m", "peernode"]


def _client(tmp_path: Path, ca: CA, name: str = "client") -> Path:
    client = tmp_path / name
    key = generate_node_key()
    save_node_key(client, key)
    now = datetime.now(UTC)
    cert = ca.issue_rental(FILM_ID, key.public_key(), not_before=now - timedelta(hours=1),
                           not_after=now + timedelta(hours=1))
    (client / "rental.pvr").write_bytes(make_rental_bundle(cert, os.urandom(32)))
    return client


def _fetch(torrent: Path, client: Path, *extra: str, timeout: float = 60
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEERNODE, "fetch", str(torrent), "--rental", str(client / "rental.pvr"),
         "--node-key", str(client / "node.key"), "--out", str(client / "dl"), *extra],
        capture_output=True, text=True, timeout=timeout,
    )


def _summary(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    summary: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def _connects(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


async def test_default_node_listens_on_ipv4_and_ipv6_ssl_sockets() -> None:
    async with open_node(NodeConfig(port_mapping=False)) as node:
        port = node.ssl_port
        assert port > 0
        # Only SSL sockets are configured, so both of these are SSL sockets.
        assert node.session.listen_port() == 0
        assert _connects("127.0.0.1", port)
        assert _connects("::1", port)


def test_every_interface_session_opens_ipv4_and_ipv6_ssl_sockets_on_one_port() -> None:
    """What libtorrent reports: SSL/TCP sockets on 127.0.0.1 and ::1 (among the
    expanded interfaces), all on the one chosen port."""
    import time

    import libtorrent as lt

    from peernode.runtime.session_settings import ALL_INTERFACES, make_session

    session = make_session(ALL_INTERFACES)
    port = session.ssl_listen_port()
    opened: set[tuple[str, int]] = set()
    deadline = time.monotonic() + 5
    while not {("127.0.0.1", port), ("::1", port)} <= opened:
        assert time.monotonic() < deadline, opened
        session.wait_for_alert(200)
        for a in session.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                assert a.socket_type in (lt.socket_type_t.tcp_ssl, lt.socket_type_t.utp_ssl)
                assert a.port == port
                if a.socket_type == lt.socket_type_t.tcp_ssl:
                    opened.add((str(a.address), a.port))
    assert session.listen_port() == 0  # no plain socket
    assert not session.get_settings()["enable_upnp"]  # make_session's default: off


async def test_no_port_mapping_turns_upnp_and_natpmp_off() -> None:
    async with open_node(NodeConfig(listen_host="127.0.0.1", port_mapping=False)) as node:
        await trio.sleep(0.1)
        settings = node.session.get_settings()
        assert not settings["enable_upnp"]
        assert not settings["enable_natpmp"]
        assert node.port_mapping == {"state": "disabled", "error": DISABLED}


async def test_mapping_on_without_a_router_reports_within_the_timeout() -> None:
    config = NodeConfig(listen_host="127.0.0.1", port_mapping_timeout_s=1.0)
    async with open_node(config) as node:
        await trio.sleep(0.1)
        settings = node.session.get_settings()
        assert settings["enable_upnp"]
        assert settings["enable_natpmp"]
        with trio.fail_after(5):
            while node.port_mapping["state"] == "pending":
                await trio.sleep(0.1)
        assert node.port_mapping == {"state": "failed", "error": NO_ROUTER}


async def test_an_origin_never_maps_ports() -> None:
    async with open_node(NodeConfig(listen_host="127.0.0.1", origin=True)) as node:
        await trio.sleep(0.1)
        assert not node.session.get_settings()["enable_upnp"]
        node.set_port_mapping(True)
        assert not node.session.get_settings()["enable_natpmp"]


async def test_a_node_on_every_interface_rereads_them_itself_and_keeps_its_port(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """libtorrent's address watcher is off (it crashes 2.1.1 on shutdown, see
    session_settings); the node re-reads its interfaces every NETWORK_RECHECK_S."""
    async with open_node(NodeConfig(listen_host="0.0.0.0", port_mapping=False)) as node:
        assert not node.session.get_settings()["enable_ip_notifier"]
        port = node.ssl_port
        await trio.sleep(3.5 * NETWORK_RECHECK_S)
        assert node.ssl_port == port
        assert _connects("127.0.0.1", port)


def test_fetch_keeps_its_port_across_restarts(tmp_path: Path, ca: CA, film: Film) -> None:
    client = _client(tmp_path, ca)
    port_file = client / "dl" / ".peernode" / "listen-port"
    first = _fetch(film.torrent, client, "--no-port-mapping", "--timeout", "1", "--json")
    assert first.returncode == 1, first.stderr
    port = int(port_file.read_text())
    assert f"listening on [::]:{port}" in first.stderr
    assert _summary(first)["port_mapping"] == {"state": "disabled", "error": DISABLED}

    second = _fetch(film.torrent, client, "--no-port-mapping", "--timeout", "1")
    assert f"listening on [::]:{port}" in second.stderr

    # Taken by someone else at the next start: another port, remembered.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("0.0.0.0", port))
        squatter.listen()
        third = _fetch(film.torrent, client, "--no-port-mapping", "--timeout", "1")
    moved = int(port_file.read_text())
    assert moved != port
    assert f"listening on [::]:{moved}" in third.stderr


def test_fetch_json_reports_no_router_with_mapping_on(
    tmp_path: Path, ca: CA, film: Film
) -> None:
    client = _client(tmp_path, ca)
    proc = _fetch(film.torrent, client, "--listen", "127.0.0.5:0",
                  "--port-mapping-timeout", "1", "--timeout", "3", "--json",
                  "--status-log", str(client / "status.jsonl"))
    assert proc.returncode == 1, proc.stderr
    assert _summary(proc)["port_mapping"] == {"state": "failed", "error": NO_ROUTER}
    last = json.loads((client / "status.jsonl").read_text().splitlines()[-1])
    assert last["port_mapping"]["state"] in ("pending", "failed")


async def test_ipv6_transfer_client_on_ipv6_loopback_fetches_from_origin(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    from peernode.operations.origin import OriginConfig, serve_origin

    bundle, key = rent()
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(
            serve_origin,
            OriginConfig(film.library, seeder.cert_pem, seeder.key_pem, listen_host="::1"),
        )
        assert host == "::1"
        async with open_node(NodeConfig(listen_host="::1", port_mapping=False)) as node:
            download = await node.fetch(film.torrent, bundle, key, save_dir=tmp_path / "c",
                                        peers=[("::1", port)])
            with trio.fail_after(30):
                stats = await download.complete()
        nursery.cancel_scope.cancel()
    assert (tmp_path / "c" / film.film_id).read_bytes() == film.data
    assert stats.bytes_from_origin == len(film.data)


async def test_dual_stack_origin_serves_an_ipv6_client(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    """`seed --listen [::]:PORT`: every interface, IPv4 and IPv6, and no port mapping."""
    from peernode.operations.origin import OriginConfig, serve_origin

    bundle, key = rent()
    async with trio.open_nursery() as nursery:
        _host, port = await nursery.start(
            serve_origin,
            OriginConfig(film.library, seeder.cert_pem, seeder.key_pem, listen_host="::"),
        )
        assert _connects("127.0.0.1", port)
        assert _connects("::1", port)
        async with open_node(NodeConfig(listen_host="::1", port_mapping=False)) as node:
            download = await node.fetch(film.torrent, bundle, key, save_dir=tmp_path / "c",
                                        peers=[("::1", port)])
            with trio.fail_after(30):
                await download.complete()
        nursery.cancel_scope.cancel()
    assert (tmp_path / "c" / film.film_id).read_bytes() == film.data


@pytest.fixture(scope="module")
def other_ca() -> CA:
    return CA.create("another operator", now=datetime.now(UTC) - timedelta(days=1))


def test_pinned_operator_ca_refuses_a_torrent_and_rental_of_another_ca(
    tmp_path: Path, ca: CA, other_ca: CA
) -> None:
    """A torrent from another CA with a valid rental from that CA: refused, one line."""
    torrent = make_torrent(tmp_path / "lib", FILM_ID, os.urandom(200_000), other_ca)
    client = _client(tmp_path, other_ca)
    pinned = tmp_path / "operator-ca.pem"
    pinned.write_bytes(ca.cert_pem)
    proc = _fetch(torrent, client, "--operator-ca", str(pinned), "--no-port-mapping",
                  "--listen", "127.0.0.5:0", "--timeout", "5")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "pinned operator CA" in errors[0]
    assert "Traceback" not in proc.stderr
    assert not (client / "dl" / FILM_ID).exists()


async def test_pinned_operator_ca_refuses_a_rental_of_another_ca(
    tmp_path: Path, film: Film, ca: CA, other_ca: CA, rent: RentalFactory
) -> None:
    """The torrent is the operator's, the rental is not: refused before any connection."""
    from certs import open_rental

    bundle, key = rent(issuer=other_ca)
    rental = open_rental(bundle, key, other_ca.cert, now=datetime.now(UTC))
    config = NodeConfig(listen_host="127.0.0.1", port_mapping=False, operator_ca_pem=ca.cert_pem)
    async with open_node(config) as node:
        with pytest.raises(PeernodeError, match="pinned operator CA"):
            await node.fetch(film.torrent, rental, key, save_dir=tmp_path / "c")
        good_bundle, good_key = rent()
        download = await node.fetch(film.torrent, good_bundle, good_key,
                                    save_dir=tmp_path / "good")
        assert download.film_id == FILM_ID


async def test_ipv4_wildcard_listens_on_one_port_ipv4_only() -> None:
    async with open_node(NodeConfig(listen_host="0.0.0.0", port_mapping=False)) as node:
        port = node.ssl_port
        assert _connects("127.0.0.1", port)
        assert not _connects("::1", port)


def test_cli_seed_and_fetch_over_ipv6_loopback(
    tmp_path: Path, ca: CA, seeder: IssuedCert
) -> None:
    """`seed --listen [::1]:0` and `fetch --listen [::1]:0 --peer [::1]:PORT`."""
    data = os.urandom(300_000)
    library = tmp_path / "library"
    torrent = make_torrent(library, FILM_ID, data, ca)
    seeder.save(tmp_path, "seeder")
    origin = subprocess.Popen(
        [*PEERNODE, "seed", "--library", str(library), "--cert", str(tmp_path / "seeder.pem"),
         "--key", str(tmp_path / "seeder.key"), "--listen", "[::1]:0",
         "--upload-limit", "300K", "--limit-local-peers"],  # a second: counters sampled
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert origin.stderr is not None
        banner = origin.stderr.readline()
        address = banner.rsplit(" ", 1)[-1].strip()
        assert address.startswith("[::1]:"), banner
        client = _client(tmp_path, ca)
        proc = _fetch(torrent, client, "--listen", "[::1]:0", "--peer", address,
                      "--no-port-mapping", "--timeout", "30", "--json")
        assert proc.returncode == 0, proc.stderr
        summary = _summary(proc)
        assert summary["complete"] is True
        assert summary["bytes_from_origin"] == summary["bytes_downloaded_session"]
        # Per remote address, IPv6 without brackets: what the connectivity matrix reads.
        # The origin drops the connection as the download completes: what it sent
        # after the last sample is unattributed (and counted as origin bytes).
        by_peer = summary["received_by_peer"]
        assert isinstance(by_peer, list)
        assert [(p["address"], p["origin"]) for p in by_peer] == [("::1", True)]
        assert by_peer[0]["bytes"] + summary["bytes_unattributed"] \
            == summary["bytes_downloaded_session"] >= len(data)
        assert (client / "dl" / FILM_ID).read_bytes() == data
    finally:
        origin.terminate()
        origin.wait(10)
