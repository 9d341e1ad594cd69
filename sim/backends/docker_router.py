"""A home router container's start-up script and files (pure text).

A router container starts on the internet network (its ``eth0``, the WAN) and is then
connected to its home's network (``eth1``, the LAN: docker names hot-plugged interfaces
in order). The script waits for ``eth1``, drops IPv4 in a `v6-only` home, adds the
routes into the other routed homes, loads the netns lab's nftables ruleset for its kind
(`sim.netlab.router.router_ruleset`) and, in a `nat-upnp` home, starts miniupnpd (UPnP
IGD and NAT-PMP, `sim.netlab.router.miniupnpd_config`) and waits until it listens;
then it writes its ready file and stays up.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.backends.docker_topology import STUN_V4, HomeNet
from sim.netlab.router import miniupnpd_config, router_ruleset
from sim.scenario.homes import HomeKind

__all__ = ["ISP_TABLE", "LAN_DEV", "NATPMP_PORT", "WAN_DEV", "RouterFiles", "counter_isp",
           "isp_counters_ruleset", "router_files"]

WAN_DEV, LAN_DEV = "eth0", "eth1"
NATPMP_PORT = 5351
ISP_TABLE = "peernode_isp"
"""The router's nftables table that counts what its client receives, by sending ISP."""
_WAIT_TICKS = 600
"""How many 50 ms waits for the LAN interface and miniupnpd (30 s each)."""


@dataclass(frozen=True)
class RouterFiles:
    """What a router container reads (paths in the bind-mounted run directory)."""

    directory: Path

    @property
    def script(self) -> Path:
        return self.directory / "router.sh"

    @property
    def ruleset(self) -> Path:
        return self.directory / "ruleset.nft"

    @property
    def routes(self) -> Path:
        return self.directory / "routes"

    @property
    def miniupnpd_conf(self) -> Path:
        return self.directory / "miniupnpd.conf"

    @property
    def isp_counters(self) -> Path:
        return self.directory / "isp-counters.nft"

    @property
    def ready(self) -> Path:
        """Written once the router routes (and miniupnpd listens)."""
        return self.directory / "ready"

    @property
    def log(self) -> Path:
        return self.directory / "router.log"


def _script(home: HomeNet, files: RouterFiles) -> str:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# The router of home {home.plan.number} ({home.kind.value}, ISP {home.isp}).",
        "set -eu",
        f"exec >>{q(str(files.log))} 2>&1",
        "die() { echo \"error: $*\" >&2; exit 1; }",
        "i=0",
        f"until ip link show {LAN_DEV} >/dev/null 2>&1; do",
        f"    i=$((i + 1)); [ \"$i\" -le {_WAIT_TICKS} ] || die 'no LAN interface {LAN_DEV}'",
        "    sleep 0.05",
        "done",
        "# No way off the run's networks: only the routes into the homes.",
        "ip -4 route del default 2>/dev/null || true",
        "ip -6 route del default 2>/dev/null || true",
    ]
    if not home.kind.has_v4:
        lines += [f"ip -4 addr flush dev {WAN_DEV}", f"ip -4 addr flush dev {LAN_DEV}"]
    lines += [
        "while read -r net via; do ip route replace \"$net\" via \"$via\"; done"
        f" < {q(str(files.routes))}",
        f"nft -f {q(str(files.ruleset))}",
        f"nft -f {q(str(files.isp_counters))}",
    ]
    if home.kind is HomeKind.NAT_UPNP:
        lines += [
            f"miniupnpd -d -f {q(str(files.miniupnpd_conf))}"
            f" -P {q(str(files.directory / 'miniupnpd.pid'))} &",
            "i=0",
            f"until ss -Hlun | grep -q ':{NATPMP_PORT} '; do",
            f"    i=$((i + 1)); [ \"$i\" -le {_WAIT_TICKS} ] || die 'miniupnpd did not start'",
            "    kill -0 $! 2>/dev/null || die 'miniupnpd exited'",
            "    sleep 0.05",
            "done",
        ]
    lines += [f": > {q(str(files.ready))}", "exec sleep infinity", ""]
    return "\n".join(lines)


def _routes(home: HomeNet, routes: Sequence[tuple[str, str]]) -> str:
    """The routes this router adds: into every other routed home, of its families."""
    own = set(home.routed)
    keep = [(net, via) for net, via in routes if (net, via) not in own
            and (home.kind.has_v4 or ":" in net)]
    return "".join(f"{net} {via}\n" for net, via in keep)


def counter_isp(name: str) -> int | None:
    """The ISP index a counter of `isp_counters_ruleset` is named after."""
    prefix = "from_isp_"
    return int(name[len(prefix):]) if name.startswith(prefix) and name[len(prefix):].isdigit() \
        else None


def isp_counters_ruleset(networks: Mapping[str, int]) -> str:
    """An nftables table counting the bytes forwarded from the WAN into the home (what
    the client receives) by the ISP of their source address: ``networks`` maps each ISP's
    address ranges (CIDR) to its index; one named counter ``from_isp_K`` per ISP. The
    origin and tracker are in no ISP's range, so only bytes from peers are counted."""
    indices = sorted(set(networks.values()))
    lines = [f"table inet {ISP_TABLE} {{"]
    lines += [f"    counter from_isp_{k} {{\n    }}" for k in indices]
    lines += ["    chain count {",
              "        type filter hook forward priority 10; policy accept;"]
    for cidr, k in networks.items():
        family = "ip6" if ":" in cidr else "ip"
        lines.append(f'        iifname "{WAN_DEV}" oifname "{LAN_DEV}" {family} saddr {cidr}'
                     f' counter name "from_isp_{k}"')
    lines += ["    }", "}", ""]
    return "\n".join(lines)


def router_files(home: HomeNet, routes: Sequence[tuple[str, str]],
                 directory: Path, isp_networks: Mapping[str, int]) -> dict[Path, str]:
    """The files of ``home``'s router in ``directory`` (path -> text); ``routes`` are the
    internet side's (`HomeTopology.routes`), ``isp_networks`` every ISP's ranges (CIDR ->
    ISP index) for the counters of `isp_counters_ruleset`."""
    files = RouterFiles(directory)
    out = {
        files.script: _script(home, files),
        files.routes: _routes(home, routes),
        files.ruleset: router_ruleset(home.kind, wan_if=WAN_DEV, lan_if=LAN_DEV),
        files.isp_counters: isp_counters_ruleset(isp_networks),
    }
    if home.kind is HomeKind.NAT_UPNP:
        out[files.miniupnpd_conf] = miniupnpd_config(
            lan_network=home.subnet_v4, stun_host=STUN_V4[0], wan_if=WAN_DEV, lan_if=LAN_DEV)
    return out
