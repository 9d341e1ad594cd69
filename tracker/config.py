"""Tracker configuration: frozen dataclasses with units in field names, loadable from TOML.

A TOML file holds any field of `TrackerConfig` at top level (``metrics_allow`` as a
list of CIDR strings), the swarm policy in a
``[swarm]`` table, the connect-back probe policy in a ``[probe]`` table and the
operator's network map (CIDR = "name") in a ``[networks]`` table; unknown keys are
rejected so that a typo never silently falls back to a default. Relative paths in a
file are resolved against the file's directory.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Self, get_origin, get_type_hints
from urllib.parse import urlsplit

from tracker.errors import ConfigError
from tracker.locality import NetworkMap

__all__ = ["ProbePolicy", "SwarmPolicy", "TrackerConfig"]

_REDIS_SCHEMES = ("redis", "rediss", "unix")
_TLS_LIBRARIES = ("bundled", "system")


@dataclass(frozen=True, slots=True)
class SwarmPolicy:
    """How swarms answer announces (pure core settings)."""

    announce_interval_s: int = 300
    """Interval the tracker asks clients to announce at (rentals: minutes, not seconds)."""
    min_announce_interval_s: int = 60
    """``min interval``: clients must not announce more often than this."""
    lonely_below: int = 4
    """A leecher not known to accept connections whose list holds fewer connectable
    peers (origins aside) than this is asked back at ``min_announce_interval_s``: no
    newcomer can reach it, so it learns of them only by announcing (0: never)."""
    peer_timeout_intervals: float = 2.0
    """A peer that has not announced for this many announce intervals is dropped."""
    numwant_default: int = 50
    """Peers returned when the client does not send ``numwant``."""
    numwant_max: int = 200
    """Upper bound on peers returned, whatever ``numwant`` says."""
    origin_always_included: bool = True
    """A leecher always receives every origin seeder, on top of the random sample."""
    origin_backup_hosts: int = 0
    """Pre-positioning: once a film's swarm holds this many complete hosts (hosting
    credentials, `tracker.hosting`), renters' lists leave the origin out, so the hosts
    serve the release and the origin only backs up (it is listed again as soon as fewer
    complete hosts remain). 0: the origin is always listed."""
    max_peers_per_swarm: int = 200_000
    """New peers beyond this are answered but not stored (bounds memory per swarm)."""
    max_peers_per_serial: int = 4
    """Peer ids one rental certificate may hold in one swarm (eclipse defence); origins
    are exempt."""
    max_listed_per_serial: int = 2
    """Members of one serial in one peer list, at most (so no serial fills a list)."""
    candidates_per_wanted: float = 1.5
    """Members sampled per peer wanted, from which the list is shaped (reachability,
    locality, serial caps)."""
    locality: bool = True
    """Peers on the requester's network come first (`local_share`); False (``--no-locality``,
    for comparison runs): lists are blind to networks, only reachability orders them."""
    local_share: float = 0.75
    """Share of a list given to peers on the requester's network when it has enough;
    the rest comes from elsewhere so that swarms stay connected."""
    max_listed_remote: int = 1
    """Peers of other networks in one list, at most, once the requester's network gives
    it ``local_enough`` peers (locality on): a few keep the networks connected, more only
    carry bytes across (in a small swarm every list holds everyone, and locality alone
    changes nothing). A leecher not known connectable still gets connectable peers from
    elsewhere until ``connectable_wanted`` of its list are. Above ``numwant_max``: only
    ``local_share`` bounds them. 1 by measurement (home-routers.toml, docker): 2 sent a
    third of peer bytes across ISPs, 1 under 0.3, and once the origin served unreachable
    customers last their share from peers no longer fell with it."""
    remote_share: float = 0.5
    """The share of members given ``max_listed_remote`` peers of other networks (the same
    members each time, by a hash of their addresses); the rest get none beyond
    ``connectable_wanted``. 0.5 by measurement (home-routers.toml, docker, medians of 3):
    with one remote member in every list 0.303 of peer bytes crossed ISPs, with half of
    the members given one 0.253, offload 0.905 -> 0.911; the networks stay joined by the
    half that links out and by the connections they make."""
    connectable_wanted: int = 4
    """Connectable peers a member not known connectable is given from other networks
    when its own has fewer, beyond ``max_listed_remote``: it can only connect out, so
    those are all the peers it will ever have."""
    local_enough: int = 4
    """Peers of its own network a list needs before ``max_listed_remote`` holds; with
    fewer, peers from elsewhere fill it (``local_share``)."""
    local_prefix_v4: int = 24
    """Without an operator network map, peers in one IPv4 /N are one network."""
    local_prefix_v6: int = 48
    """Without an operator network map, peers in one IPv6 /N are one network."""

    def __post_init__(self) -> None:
        if self.announce_interval_s < 1:
            raise ConfigError("announce_interval_s must be at least 1")
        if not 1 <= self.min_announce_interval_s <= self.announce_interval_s:
            raise ConfigError("min_announce_interval_s must be in 1..announce_interval_s")
        if self.origin_backup_hosts < 0:
            raise ConfigError("origin_backup_hosts must not be negative")
        if self.lonely_below < 0:
            raise ConfigError("lonely_below must not be negative")
        if self.peer_timeout_intervals < 1:
            raise ConfigError("peer_timeout_intervals must be at least 1")
        if not 0 <= self.numwant_default <= self.numwant_max:
            raise ConfigError("numwant_default must be in 0..numwant_max")
        if self.max_peers_per_swarm < 1:
            raise ConfigError("max_peers_per_swarm must be at least 1")
        if self.max_peers_per_serial < 1 or self.max_listed_per_serial < 1:
            raise ConfigError("max_peers_per_serial and max_listed_per_serial must be at least 1")
        if self.candidates_per_wanted < 1:
            raise ConfigError("candidates_per_wanted must be at least 1")
        if not 0.0 <= self.remote_share <= 1.0:
            raise ConfigError("remote_share must be between 0 and 1")
        if min(self.max_listed_remote, self.local_enough, self.connectable_wanted) < 0:
            raise ConfigError(
                "max_listed_remote, local_enough and connectable_wanted must not be negative"
            )
        if not 0 <= self.local_share <= 1:
            raise ConfigError("local_share must be in 0..1")
        if not 0 <= self.local_prefix_v4 <= 32 or not 0 <= self.local_prefix_v6 <= 128:
            raise ConfigError("local_prefix_v4 must be in 0..32 and local_prefix_v6 in 0..128")

    @property
    def peer_ttl_s(self) -> float:
        """Seconds after its last announce that a peer expires."""
        return self.announce_interval_s * self.peer_timeout_intervals


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    """The connect-back probe: is an announcer reachable on its announced port?"""

    enabled: bool = True
    connect_timeout_s: float = 3.0
    """A connect not done by then counts as unreachable."""
    connectable_ttl_s: float = 1800.0
    """A connectable result is trusted this long, then probed again."""
    unreachable_ttl_s: float = 600.0
    """An unreachable result is trusted this long (a port mapping may appear)."""
    first_retry_s: float = 20.0
    """A peer's first failed probe is tried once more this long after, without waiting
    for its next announce: a node announces as it starts, while its router is still
    mapping its port (UPnP/NAT-PMP take up to about 15 s). 0: no retry."""
    per_ip_probes: int = 4
    """Probes to one IP address (any port) per ``per_ip_interval_s``, at most."""
    per_ip_interval_s: float = 60.0
    rate_per_s: float = 50.0
    """Probes per second in all, at most (token bucket)..."""
    burst: int = 100
    """...with this many at once."""
    max_pending: int = 256
    """Probes queued or running at once; beyond it a wanted probe waits for a later
    announce (counted as rate-limited)."""
    max_entries: int = 200_000
    """Results kept, at most (oldest dropped first)."""

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "connectable_ttl_s", "unreachable_ttl_s", "rate_per_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"probe.{name} must be positive")
        if self.per_ip_interval_s < 0:
            raise ConfigError("probe.per_ip_interval_s must not be negative")
        if self.first_retry_s < 0:
            raise ConfigError("probe.first_retry_s must not be negative")
        for name in ("per_ip_probes", "burst", "max_pending", "max_entries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"probe.{name} must be at least 1")


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Everything `serve_tracker` needs: credentials, addresses, limits, swarm policy."""

    ca_path: Path
    """PEM of the operator CA: client certificates must chain to it."""
    cert_path: Path
    """PEM of the tracker's server certificate (issued by the same CA)."""
    key_path: Path
    """The server certificate's private key (mode 0600)."""
    library_dir: Path
    """Directory of the films' ``.torrent`` files, reloaded when it changes."""
    crl_path: Path | None = None
    """The CA's CRL (PEM), reloaded when it changes; ``None``: nothing revoked (the
    command line wants ``--no-crl`` said explicitly for that)."""
    crl_grace_s: float = 3600.0
    """How long past its nextUpdate the CRL is still used (with a warning and a
    metric); after that the tracker refuses every rental until a fresh CRL arrives."""
    listen_host: str = "127.0.0.1"
    """Host ``::`` listens on IPv6 and IPv4 (all interfaces) on one port."""
    listen_port: int = 0
    more_listen: tuple[tuple[str, int], ...] = ()
    """Further (host, port) addresses to serve on (``--listen`` given again)."""
    metrics_host: str | None = None
    """Where to serve Prometheus text; ``None``: no metrics listener."""
    metrics_port: int = 0
    metrics_allow: tuple[str, ...] | None = None
    """CIDR prefixes whose hosts may connect to the metrics listener (``--metrics-allow``,
    repeatable); any other peer is disconnected at accept, before it sends a byte.
    ``None``: anyone who can reach the listener. Loopback is not implied."""
    max_connections: int = 1024
    """Connections held at once; beyond it the oldest idle connection is closed."""
    handshake_timeout_s: float = 10.0
    idle_timeout_s: float = 30.0
    """Time a connection may take to deliver a complete request, or to take a response."""
    max_request_bytes: int = 8192
    """Bound on a request's head (request line + headers) and body."""
    max_header_count: int = 32
    shutdown_grace_s: float = 5.0
    """On shutdown, requests in flight get this long to finish."""
    reload_poll_s: float = 2.0
    """How often the CRL and the library are checked for changes."""
    expire_every_s: float = 30.0
    """How often expired peers are dropped."""
    max_scrape_hashes: int = 64
    tls_session_tickets: int = 0
    """TLS 1.3 tickets sent after a handshake. libtorrent never resumes a session
    (checked with 2.1.1: a new full handshake per announce), so tickets only cost CPU."""
    tls_library: str = "bundled"
    """Whose OpenSSL serves TLS: ``bundled`` (the one inside the ``cryptography`` wheel,
    through pyOpenSSL) or ``system`` (Python's ``ssl`` module). See docs/tracker.md for
    what each costs per handshake."""
    workers: int = 1
    """Tracker processes sharing the listen ports (``SO_REUSEPORT``); more than one
    needs ``redis_url`` (every worker must see the same swarms)."""
    reuse_port: bool = False
    """Bind the listen sockets with ``SO_REUSEPORT`` (set for each worker by
    `tracker.workers`; other processes may then bind the same ports)."""
    redis_url: str | None = None
    """``redis://HOST:PORT/DB``: keep swarm state in Redis, shared with other trackers
    using the same one (issue 8); ``None``: in this process's memory."""
    swarm: SwarmPolicy = field(default_factory=SwarmPolicy)
    probe: ProbePolicy = field(default_factory=ProbePolicy)
    networks: tuple[tuple[str, str], ...] = ()
    """The operator's network map: (CIDR, network name) pairs, longest prefix wins."""

    def __post_init__(self) -> None:
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in _REDIS_SCHEMES:
            raise ConfigError(
                f"redis_url must look like redis://HOST:PORT/DB, not {self.redis_url!r}"
            )
        for name in ("listen_port", "metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ConfigError(f"{name} must be in 0..65535")
        for name in (
            "max_connections",
            "max_request_bytes",
            "max_header_count",
            "max_scrape_hashes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("handshake_timeout_s", "idle_timeout_s", "reload_poll_s", "expire_every_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.crl_grace_s < 0:
            raise ConfigError("crl_grace_s must not be negative")
        if self.shutdown_grace_s < 0:
            raise ConfigError("shutdown_grace_s must not be negative")
        if self.tls_session_tickets < 0:
            raise ConfigError("tls_session_tickets must not be negative")
        if self.tls_library not in _TLS_LIBRARIES:
            raise ConfigError(f"tls_library must be one of {', '.join(_TLS_LIBRARIES)}")
        if self.tls_session_tickets and self.tls_library != "system":
            raise ConfigError("tls_session_tickets needs tls_library = \"system\"")
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.workers > 1 and self.redis_url is None:
            raise ConfigError("workers > 1 needs a shared swarm store: give --redis")
        for _, port in self.more_listen:
            if not 0 <= port <= 65535:
                raise ConfigError("listen ports must be in 0..65535")
        # checks every CIDR and name now (one-line ConfigError), not at the first announce
        self.network_map()
        self.metrics_networks()

    def metrics_networks(self) -> tuple[IPv4Network | IPv6Network, ...] | None:
        """``metrics_allow`` parsed; raises `ConfigError` for a bad or empty list."""
        if self.metrics_allow is None:
            return None
        if not self.metrics_allow:
            raise ConfigError("metrics_allow lists no CIDR prefix: leave it out to allow anyone")
        networks = []
        for cidr in self.metrics_allow:
            try:
                networks.append(ip_network(cidr, strict=True))
            except (TypeError, ValueError) as e:
                raise ConfigError(f"metrics_allow: {cidr!r} is not a CIDR prefix ({e})") from None
        return tuple(networks)

    def network_map(self) -> NetworkMap:
        """The locality map of ``networks`` and the swarm policy's prefix lengths."""
        return NetworkMap(
            dict(self.networks),
            v4_prefix=self.swarm.local_prefix_v4,
            v6_prefix=self.swarm.local_prefix_v6,
        )

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], *, base_dir: Path | None = None, **overrides: Any
    ) -> Self:
        """Build a config from a TOML-like mapping, then apply ``overrides``.

        ``overrides`` (already typed, e.g. from the command line) win over
        ``values``; ``None`` overrides are ignored. Relative paths in ``values``
        are resolved against ``base_dir``. Raises `ConfigError` for an unknown
        key, a value of the wrong type, a missing required field or a bad value.
        """
        raw = dict(values)
        tables = {}
        for name in ("swarm", "probe", "networks"):
            table = raw.pop(name, {})
            if not isinstance(table, Mapping):
                raise ConfigError(f"{name} must be a table")
            tables[name] = table
        fields: dict[str, Any] = {k: _typed(cls, k, v, base_dir) for k, v in raw.items()}
        for name, kind in (("swarm", SwarmPolicy), ("probe", ProbePolicy)):
            fields[name] = kind(**{k: _typed(kind, k, v, None) for k, v in tables[name].items()})
        fields["networks"] = tuple((str(k), v) for k, v in tables["networks"].items())
        for cidr, net in fields["networks"]:
            if not isinstance(net, str):
                raise ConfigError(f"networks: the name of {cidr} must be a string")
        fields.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**fields)
        except TypeError as e:  # a required field is missing
            raise ConfigError(f"incomplete tracker configuration: {e}") from None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> Self:
        """Load a config from a TOML file; see `from_mapping` for ``overrides``.

        Raises `ConfigError` for an unreadable or invalid file.
        """
        p = Path(path)
        try:
            values = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read {p}: {e.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p} is not valid TOML: {e}") from None
        return cls.from_mapping(values, base_dir=p.parent, **overrides)


def _typed(cls: type, name: str, value: Any, base_dir: Path | None) -> Any:
    """Check one TOML value against the dataclass field's annotation and convert it."""
    known = {f.name for f in dataclasses.fields(cls)}
    section = {TrackerConfig: "", SwarmPolicy: "swarm.", ProbePolicy: "probe."}.get(cls, "")
    if name not in known or name in ("swarm", "probe", "networks", "more_listen"):
        raise ConfigError(f"unknown configuration key {section}{name}")
    hint = get_type_hints(cls)[name]
    kinds = hint.__args__ if isinstance(hint, types.UnionType) else (hint,)
    if value is None:  # TOML has no null; only keyword callers get here
        if type(None) in kinds:
            return None
    elif Path in kinds and isinstance(value, str):
        p = Path(value)
        return base_dir / p if base_dir is not None and not p.is_absolute() else p
    elif bool in kinds:
        if isinstance(value, bool):
            return value
    elif int in kinds:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif float in kinds:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif str in kinds and isinstance(value, str):
        return value
    elif any(get_origin(k) is tuple for k in kinds):  # tuple[str, ...]: a TOML list
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"configuration key {section}{name} must be a list of strings")
    expected = " or ".join(k.__name__ for k in kinds if k is not type(None))
    raise ConfigError(f"configuration key {section}{name} must be {expected}")
