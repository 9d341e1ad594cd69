"""A home router's nftables ruleset and miniupnpd configuration (pure text).

The ruleset has the shape miniupnpd-nftables expects (one ``inet filter`` table with
its ``miniupnpd``, ``prerouting_miniupnpd`` and ``postrouting_miniupnpd`` chains, which
it fills with the port mappings), so every kind of home uses the same one: NAT homes
masquerade IPv4 out of ``wan`` and drop unsolicited inbound IPv4; routed IPv6 and public
IPv4 are forwarded both ways (an open firewall: the client is reachable).
"""

from __future__ import annotations

import uuid

from sim.netlab.addressing import HomeKind

__all__ = ["LAN_IF", "WAN_IF", "miniupnpd_config", "router_ruleset"]

WAN_IF, LAN_IF = "wan", "lan"


def router_ruleset(kind: HomeKind, *, wan_if: str = WAN_IF, lan_if: str = LAN_IF) -> str:
    """The ``nft -f`` input for a router of ``kind`` whose interfaces are ``wan_if`` (the
    internet side) and ``lan_if`` (the home)."""
    if kind.nat_v4:
        inbound = (
            f'        iifname "{wan_if}" meta nfproto ipv4 drop\n'
            "        accept\n"
        )
        masquerade = f'        oifname "{wan_if}" meta nfproto ipv4 masquerade\n'
    else:
        inbound, masquerade = "        accept\n", ""
    return (
        "table inet filter {\n"
        "    chain forward {\n"
        "        type filter hook forward priority 0; policy accept;\n"
        "        ct state established,related accept\n"
        f'        iifname "{lan_if}" accept\n'
        "        jump miniupnpd\n"
        f"{inbound}"
        "    }\n"
        "    chain miniupnpd {\n    }\n"
        "    chain prerouting {\n"
        "        type nat hook prerouting priority -100; policy accept;\n"
        "        jump prerouting_miniupnpd\n"
        "    }\n"
        "    chain postrouting {\n"
        "        type nat hook postrouting priority 100; policy accept;\n"
        "        jump postrouting_miniupnpd\n"
        f"{masquerade}"
        "    }\n"
        "    chain prerouting_miniupnpd {\n    }\n"
        "    chain postrouting_miniupnpd {\n    }\n"
        "}\n"
    )


def miniupnpd_config(*, lan_network: str, stun_host: str, stun_port: int = 3478,
                     wan_if: str = WAN_IF, lan_if: str = LAN_IF) -> str:
    """miniupnpd's configuration: UPnP IGD and NAT-PMP on the LAN for ``lan_network``
    clients (ports 1024-65535 to themselves only), external address by STUN.

    STUN is not optional here: miniupnpd 2.3 refuses every mapping when its external
    interface has a private or reserved address (every lab address) unless a STUN check
    with change requests finds the link unfiltered."""
    return (
        f"ext_ifname={wan_if}\n"
        f"listening_ip={lan_if}\n"
        "http_port=0\n"
        "enable_natpmp=yes\n"
        "enable_upnp=yes\n"
        "ext_perform_stun=yes\n"
        f"ext_stun_host={stun_host}\n"
        f"ext_stun_port={stun_port}\n"
        "secure_mode=yes\n"
        "system_uptime=yes\n"
        f"uuid={uuid.uuid4()}\n"
        f"allow 1024-65535 {lan_network} 1024-65535\n"
        "deny 0-65535 0.0.0.0/0 0-65535\n"
    )
