"""Which network a peer is on, for locality-aware peer lists (pure).

A network is named by the operator's prefix map (CIDR -> name, the ``[networks]`` table
of the tracker's TOML file; the longest matching prefix wins), else by the peer's own
IPv4 /24 or IPv6 /48 (the prefix lengths are settings). Names are computed from compact
addresses on the announce path, so lookups are cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

from tracker.errors import ConfigError

__all__ = ["NetworkMap"]

_V4, _V6 = 6, 18  # compact address sizes
_CACHE_SIZE = 65_536


class NetworkMap:
    """Names the network of a compact address (IPv4 or IPv6, with or without the port)."""

    def __init__(
        self,
        prefixes: Mapping[str, str] | None = None,
        *,
        v4_prefix: int = 24,
        v6_prefix: int = 48,
    ) -> None:
        """``prefixes``: CIDR -> network name. Raises `ConfigError` for a bad CIDR or length."""
        if not 0 <= v4_prefix <= 32 or not 0 <= v6_prefix <= 128:
            raise ConfigError("local prefix lengths must be in 0..32 (IPv4) and 0..128 (IPv6)")
        self._v4_prefix, self._v6_prefix = v4_prefix, v6_prefix
        # per family: prefix length -> network address as int -> name, longest first
        self._tables: dict[int, list[tuple[int, dict[int, str]]]] = {4: [], 6: []}
        by_length: dict[tuple[int, int], dict[int, str]] = {}
        for cidr, name in (prefixes or {}).items():
            network = _parse_cidr(cidr)
            if not isinstance(name, str) or not name:
                raise ConfigError(f"networks: the name of {cidr} must be a non-empty string")
            table = by_length.setdefault((network.version, network.prefixlen), {})
            table[int(network.network_address)] = name
        for (version, length), table in sorted(by_length.items(), key=lambda kv: -kv[0][1]):
            self._tables[version].append((length, table))
        self._cache: dict[bytes, str] = {}

    def byte_prefixes(self) -> tuple[int, int] | None:
        """Bytes of an IPv4 and an IPv6 address that name its network, if that is all.

        So without operator prefixes and with byte-aligned prefix lengths (the
        defaults, /24 and /48): then two addresses share a network when those leading
        bytes are equal, tested with no lookup at all (it runs for every sampled peer
        of every announce). ``None`` otherwise: use `name_of`.
        """
        if self._tables[4] or self._tables[6] or self._v4_prefix % 8 or self._v6_prefix % 8:
            return None
        return self._v4_prefix // 8, self._v6_prefix // 8

    def name_of(self, address: bytes) -> str:
        """The network name of a compact address (6 or 18 bytes) or a packed IP (4 or 16)."""
        name = self._cache.get(address)
        if name is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            name = self._cache[address] = self._lookup(address)
        return name

    def _lookup(self, address: bytes) -> str:
        packed = address[:4] if len(address) in (4, _V4) else address[:16]
        version, bits = (4, 32) if len(packed) == 4 else (6, 128)
        value = int.from_bytes(packed, "big")
        for length, table in self._tables[version]:
            name = table.get(value >> (bits - length) << (bits - length))
            if name is not None:
                return name
        length = self._v4_prefix if version == 4 else self._v6_prefix
        network = value >> (bits - length) << (bits - length)
        return f"{ip_address(network.to_bytes(len(packed), 'big'))}/{length}"


def _parse_cidr(cidr: object) -> IPv4Network | IPv6Network:
    if not isinstance(cidr, str):
        raise ConfigError(f"networks: {cidr!r} is not a CIDR prefix")
    try:
        return ip_network(cidr, strict=True)
    except ValueError as e:
        raise ConfigError(f"networks: {cidr!r} is not a CIDR prefix ({e})") from None
