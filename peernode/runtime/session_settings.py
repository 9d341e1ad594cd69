"""The one place that knows how to run libtorrent for a private SSL swarm.

Every node (origin seeder and customer alike) needs an SSL listen socket: SSL
torrents only connect over it, and it is the port announced to the tracker.
DHT and local service discovery are off (private swarms), and peers sharing
one IP (simulations, NAT) may each connect. UPnP IGD and NAT-PMP map a
customer node's port on its home router when asked (``port_mapping``, the
customer's consent); an origin never maps ports (it has a public address).

A node listens on one host, or on every interface, IPv4 and IPv6, when the
host is ``::`` (`ALL_INTERFACES`): ``0.0.0.0:P s`` and ``[::]:P s`` on one
fixed port P, since libtorrent expands a wildcard into one socket per
interface and gives each its own port when P is 0. libtorrent's own watcher of
address changes is off (it crashes libtorrent 2.1.1 on shutdown); such a node
re-reads its interfaces every `NETWORK_RECHECK_S` instead (`peernode.runtime.node`).

Transport: TCP only, on purpose. uTP's LEDBAT would yield to the customer's
other traffic, but peernode expresses the customer's consent as explicit
upload/download caps enforced by libtorrent's rate limiter, and libtorrent's
uTP measured here is 3-8x slower and erratic (18-47 MB/s on loopback against
~150 MB/s for TCP), which would cost offload on fast links. `transport="both"`
brings uTP back for an operator who wants it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Literal

import libtorrent as lt

from peernode.errors import PeernodeError
from peernode.runtime.listen_port import free_dual_stack_port

__all__ = [
    "ALL_INTERFACES",
    "CLIENT_PEER_ID_PREFIX",
    "DH_PARAMS_PEM",
    "NETWORK_RECHECK_S",
    "ORIGIN_PEER_ID_PREFIX",
    "Transport",
    "add_ssl_torrent",
    "is_dual_stack",
    "is_origin_peer_id",
    "is_wildcard",
    "listen_interfaces",
    "make_session",
    "private_swarm_settings",
    "set_handle_certificate",
    "ssl_listen_port",
    "subject_local_peers_to_limits",
]

# RFC 7919 ffdhe2048: a fixed, well-known group; libtorrent's SSL context
# requires DH parameters and generating them at run time takes seconds.
DH_PARAMS_PEM = b"""-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
"""

# libtorrent fingerprints ("-XXvvvv-"): the origin's peer id marks its bytes,
# which is how a client tells CDN-billed bytes from bytes other customers gave.
ORIGIN_PEER_ID_PREFIX = b"-PO0100-"
CLIENT_PEER_ID_PREFIX = b"-PN0100-"

Transport = Literal["tcp", "utp", "both"]

# The listen host meaning "every interface, IPv4 and IPv6".
ALL_INTERFACES = "::"

# How often a node listening on every interface looks for added or removed addresses
# (libtorrent's own watcher is off, see `private_swarm_settings`), in seconds.
NETWORK_RECHECK_S = 30.0

_ALERT_MASK = (
    lt.alert.category_t.error_notification
    | lt.alert.category_t.status_notification
    | lt.alert.category_t.storage_notification
    | lt.alert.category_t.tracker_notification
    | lt.alert.category_t.peer_notification
    | lt.alert.category_t.connect_notification
    # Verified pieces only: no block alerts (one per 16 KiB, the bulk of the
    # node's Python work once), and not the deprecated progress_notification,
    # which still turns them on. Offload is counted from per-peer counters.
    | lt.alert.category_t.piece_progress_notification
    | lt.alert.category_t.port_mapping_notification
)


def is_origin_peer_id(peer_id: bytes) -> bool:
    """True if a remote peer id carries the origin seeder's fingerprint."""
    return peer_id.startswith(ORIGIN_PEER_ID_PREFIX)


def _host_for_listen(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _bare_ip(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_dual_stack(host: str) -> bool:
    """True for the host that means every interface, IPv4 and IPv6."""
    return host in (ALL_INTERFACES, "[::]")


def is_wildcard(host: str) -> bool:
    """True for a host that libtorrent expands into one socket per interface."""
    return is_dual_stack(host) or host == "0.0.0.0"


def listen_interfaces(host: str, ssl_port: int) -> str:
    """libtorrent's ``listen_interfaces`` for a node.

    One host: a plain socket and the SSL socket. Every interface (`ALL_INTERFACES`):
    only SSL sockets, IPv4 and IPv6, on ``ssl_port`` (SSL torrents connect over
    nothing else, and a plain socket would be one more port to map and pin);
    ``0.0.0.0``: the same, IPv4 only.
    """
    if is_dual_stack(host):
        return f"0.0.0.0:{ssl_port}s,[::]:{ssl_port}s"
    h = _host_for_listen(host)
    if is_wildcard(host):
        return f"{h}:{ssl_port}s"
    return f"{h}:0,{h}:{ssl_port}s"


def private_swarm_settings(
    host: str = "127.0.0.1",
    ssl_port: int = 0,
    *,
    origin: bool = False,
    transport: Transport = "tcp",
    upload_rate_bps: int = 0,
    download_rate_bps: int = 0,
    port_mapping: bool = False,
) -> dict[str, Any]:
    """The settings pack of a private SSL swarm node (rates in bytes/s, 0 = unlimited).

    ``port_mapping``: UPnP IGD and NAT-PMP on (never for an origin).
    """
    mapping = port_mapping and not origin
    fingerprint = ORIGIN_PEER_ID_PREFIX if origin else CLIENT_PEER_ID_PREFIX
    return {
        "listen_interfaces": listen_interfaces(host, ssl_port),
        # A node on one address connects from it too: libtorrent leaves outgoing
        # sockets unbound, so on loopback every client reached the origin from
        # 127.0.0.1 and the origin's per-IP bound refused the whole flash crowd.
        "outgoing_interfaces": "" if is_wildcard(host) else _bare_ip(host),
        "enable_dht": False,
        "enable_lsd": False,
        # libtorrent 2.1.1's netlink address watcher is freed on shutdown while the
        # handler of a message it just received is still queued, which then runs on
        # freed memory (SIGSEGV, seen while other processes added network interfaces).
        # A node on every interface re-reads them itself (`NETWORK_RECHECK_S`).
        "enable_ip_notifier": False,
        "enable_upnp": mapping,
        "enable_natpmp": mapping,
        "enable_incoming_utp": transport != "tcp",
        "enable_outgoing_utp": transport != "tcp",
        "enable_incoming_tcp": transport != "utp",
        "enable_outgoing_tcp": transport != "utp",
        "allow_multiple_connections_per_ip": True,
        "peer_fingerprint": fingerprint.decode(),
        "user_agent": "peernode/0.1",
        "alert_mask": int(_ALERT_MASK),
        "alert_queue_size": 100_000,
        "upload_rate_limit": upload_rate_bps,
        "download_rate_limit": download_rate_bps,
        # Private swarm: announce to the tracker right away, and keep every
        # torrent of a node active (no queueing of seeds or downloads).
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "auto_manage_startup": 1,
        # A few seconds, not the default minute, between reconnect attempts
        # to a peer that failed: swarms are small and peers come and go.
        "min_reconnect_time": 2,
        # Requests queued per peer for 1 s of its rate, not 3: at the end of a
        # flash crowd the last blocks otherwise wait in busy peers' queues
        # (measured, 8 clients x 4 MB/s, 32 MiB: completion 17.5 s -> 14.8 s).
        "request_queue_time": 1,
        "validate_https_trackers": True,
        # The tracker decides how often a node comes back: its interval, and the short
        # "min interval" it gives a leecher no one can reach yet ([swarm] lonely_below),
        # so that the leecher learns of connectable peers soon. libtorrent floors any
        # tracker interval at this setting (300 s by default), which would hold such a
        # leecher on the origin alone for five minutes (bench/nat.py: 0.92 -> 0.986).
        "min_announce_interval": 1,
        # libtorrent 2.1's write cache holds a v2 torrent's blocks in memory
        # until it is over this watermark (default 100 MB): measured, an 8 MiB
        # download had no file on disk at 80 %, so playback could not read it,
        # resume data recorded no piece and a crash lost everything. A small
        # cache makes verified pieces reach the file within a few MB.
        "max_queued_disk_bytes": 2 * 1024 * 1024,
        # libtorrent drops the connections between two seeds the moment a
        # download completes, and the peers' payload counters with them: the
        # last bytes of every customer who sent to us would count as origin
        # bytes (peernode.runtime.offload). Customers keep them (idle, a few
        # sockets); the origin still drops its own, which are origin bytes anyway.
        "close_redundant_connections": origin,
        # Every customer node, seeding ones too: a 100 ms tick instead of 500 ms. The
        # tick grants the rate limiter's quota and makes the first connection
        # attempts, so a capped seeder answered a new peer's first request up to
        # 500 ms late (bench/startup.py, docs/performance.md). The origin starts at
        # libtorrent's 500 ms and sets its own tick as it goes: 50 ms for a few
        # customers, 500 ms in a crowd (`peernode.operations.origin_tick`).
        "tick_interval": 500 if origin else 100,
        # libtorrent picks the first pieces (4 by default) at random, ignoring
        # priorities and deadlines: a player's first pieces waited for the next
        # once-a-second deadline pass. Rarest first from the start honours them.
        "initial_picker_threshold": 0,
    }


def subject_local_peers_to_limits(session: lt.session) -> None:
    """Make rate limits apply to peers on loopback and private networks.

    libtorrent puts those peers in the "local" peer class, exempt from the
    global limits; simulations that shape rates on loopback need them counted.
    """
    f = lt.ip_filter()
    f.add_rule("0.0.0.0", "255.255.255.255", 1 << session.global_peer_class_id)
    f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 << session.global_peer_class_id)
    session.set_peer_class_filter(f)


def make_session(
    listen_host: str = "127.0.0.1",
    *,
    port: int = 0,
    settings: Mapping[str, object] | None = None,
    origin: bool = False,
    transport: Transport = "tcp",
    limit_local_peers: bool = False,
    port_mapping: bool = False,
) -> lt.session:
    """A libtorrent session for a private SSL swarm, SSL socket on ``listen_host:port``.

    ``listen_host`` `ALL_INTERFACES` listens on every interface, IPv4 and IPv6,
    on ``port`` (0: a port free on all of them). ``settings`` override the
    defaults of `private_swarm_settings`. Raises `PeernodeError` if the SSL
    socket cannot be opened.
    """
    if is_wildcard(listen_host) and port == 0:
        # One port for every interface, chosen here: libtorrent would give each
        # expanded socket its own.
        try:
            port = free_dual_stack_port()
        except OSError as e:
            raise PeernodeError(f"cannot find a free listen port: {e.strerror}") from None
    pack = private_swarm_settings(listen_host, port, origin=origin, transport=transport,
                                  port_mapping=port_mapping)
    pack.update(settings or {})
    # The binding converts a dict to a settings_pack; its stubs only name the latter.
    session: lt.session = lt.session(pack)  # type: ignore[call-overload]
    if limit_local_peers:
        subject_local_peers_to_limits(session)
    chosen = ssl_listen_port(session)
    if chosen == 0:
        raise PeernodeError(f"cannot listen on {listen_host}:{port} (SSL socket not opened)")
    if port == 0:
        # Pin the ports libtorrent picked: it reopens its sockets when network
        # interfaces change (seen here whenever docker adds a network), and a
        # port-0 socket would come back on a new port peers and the tracker
        # do not know.
        h = _host_for_listen(listen_host)
        session.apply_settings(
            {"listen_interfaces": f"{h}:{session.listen_port()},{h}:{chosen}s"}
        )
    else:
        # Set it again after the constructor: the binding's session(dict) opens the
        # sockets it names but leaves the session's own listen_interfaces empty, so
        # after any later apply_settings the next re-reading of the interfaces
        # (`NETWORK_RECHECK_S`) closed every socket for good: an origin on a fixed
        # port, or a dual-stack customer, accepted no connection after its first
        # 30 s (`tests/peernode/runtime/test_session_listen_kept.py`).
        session.apply_settings({"listen_interfaces": pack["listen_interfaces"]})
    return session


def ssl_listen_port(session: lt.session) -> int:
    """The SSL listen port peers connect to and the tracker is told (0 if none)."""
    return int(session.ssl_listen_port())


def set_handle_certificate(handle: lt.torrent_handle, cert_pem: bytes, key_pem: bytes) -> None:
    """Give an SSL torrent's handle its certificate (again after every restart:
    certificates are not part of resume data)."""
    handle.set_ssl_certificate_buffer(cert_pem.decode(), key_pem.decode(), DH_PARAMS_PEM.decode())


def add_ssl_torrent(
    session: lt.session,
    ti: lt.torrent_info,
    save_path: str | os.PathLike[str],
    *,
    cert_pem: bytes,
    key_pem: bytes,
    seed_mode: bool = False,
    resume_data: bytes | None = None,
    flags: int = 0,
) -> lt.torrent_handle:
    """Add an SSL torrent with its certificate set; returns the handle.

    ``resume_data`` (from a save_resume_data alert, bencoded) resumes verified
    pieces without re-checking them. Raises `PeernodeError` if libtorrent refuses.
    """
    if resume_data:
        try:
            params = lt.read_resume_data(resume_data)
        except RuntimeError:
            params = lt.add_torrent_params()
        params.ti = ti
    else:
        params = lt.add_torrent_params()
        params.ti = ti
    params.save_path = str(save_path)
    # Added paused, resumed once the certificate is set: an SSL torrent
    # without one would fail its first connections and announces.
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags |= lt.torrent_flags.paused | flags
    if seed_mode:
        params.flags |= lt.torrent_flags.seed_mode
    try:
        handle = session.add_torrent(params)
    except RuntimeError as e:
        raise PeernodeError(f"libtorrent refused torrent {ti.name()!r}: {e}") from None
    set_handle_certificate(handle, cert_pem, key_pem)
    if not flags & lt.torrent_flags.paused:
        handle.resume()
    return handle
