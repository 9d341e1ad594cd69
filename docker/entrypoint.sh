#!/bin/sh
# Container entrypoint: shape this container's link with tc, then run `peernode "$@"`
# as an unprivileged user.
#
# Environment (all optional; rates in bytes per second, like peernode's --*-limit):
#   PEERNODE_RATE_UP      egress rate (0 or unset: unlimited) (token bucket, or netem's rate with delay/loss)
#   PEERNODE_RATE_DOWN    ingress rate (redirected to an ifb device and token-bucket shaped)
#   PEERNODE_DELAY_MS     egress one-way delay (netem)
#   PEERNODE_LOSS_PCT     egress loss in percent (netem)
#   PEERNODE_IFACE        interface to shape (default eth0)
#   PEERNODE_UID/GID      who runs peernode when started as root (default 10001)
#   PEERNODE_LISTEN_PORT  append `--listen ADDRESS:PORT` with IFACE's own address: libtorrent
#                         skips tracker announces from a 0.0.0.0 listen socket, and compose
#                         does not know a container's address in advance
# Home networks (the docker backend of `peernode sim`):
#   PEERNODE_GATEWAY_V4/_V6  replace the default route: via this home router (IPv4, IPv6)
#   PEERNODE_V6_ONLY=1    drop IFACE's IPv4 addresses (a v6-only home)
#   PEERNODE_ROUTES       a file of "NETWORK VIA" lines: routes into the homes (internet side),
#                         which then has no default route
#   PEERNODE_GO           a FIFO: once shaped and routed, create PEERNODE_GO.waiting, wait
#                         for a line on the FIFO (the go signal), write the time (unix
#                         seconds) to PEERNODE_GO.started, then run peernode
# Shaping and routes need root and NET_ADMIN (`--user 0 --cap-add NET_ADMIN`).
set -eu
IFACE="${PEERNODE_IFACE:-eth0}"
UP="${PEERNODE_RATE_UP:-}"; DOWN="${PEERNODE_RATE_DOWN:-}"
GW4="${PEERNODE_GATEWAY_V4:-}"; GW6="${PEERNODE_GATEWAY_V6:-}"; ROUTES="${PEERNODE_ROUTES:-}"
V6_ONLY="${PEERNODE_V6_ONLY:-}"
DELAY="${PEERNODE_DELAY_MS:-}"; LOSS="${PEERNODE_LOSS_PCT:-}"
# 0 means unlimited, like peernode's --*-limit.
[ "$UP" = 0 ] && UP=
[ "$DOWN" = 0 ] && DOWN=

die() { echo "error: $*" >&2; exit 1; }

shape() {
    # Every step says `|| return 1`: `set -e` does not apply inside `shape || die`.
    # Burst: 50 ms of traffic but at least 16 KiB, so the bucket holds a few full packets.
    up_burst=$(( UP / 20 > 16384 ? UP / 20 : 16384 ))
    if [ -n "$DELAY$LOSS" ]; then
        set -- netem
        [ -n "$DELAY" ] && set -- "$@" delay "${DELAY}ms"
        [ -n "$LOSS" ] && set -- "$@" loss "${LOSS}%"
        [ -n "$UP" ] && set -- "$@" rate "$(( UP * 8 ))bit"
        tc qdisc replace dev "$IFACE" root "$@" || return 1
    elif [ -n "$UP" ]; then
        tc qdisc replace dev "$IFACE" root tbf rate "$(( UP * 8 ))bit" \
            burst "$up_burst" latency 200ms || return 1
    fi
    if [ -n "$DOWN" ]; then
        # A qdisc only shapes what leaves a device: send what arrives on IFACE out
        # through an ifb device and shape it there.
        down_burst=$(( DOWN / 20 > 16384 ? DOWN / 20 : 16384 ))
        ip link add ifb0 type ifb || return 1
        ip link set ifb0 up || return 1
        tc qdisc replace dev "$IFACE" handle ffff: ingress || return 1
        tc filter add dev "$IFACE" parent ffff: protocol all u32 match u32 0 0 \
            action mirred egress redirect dev ifb0 || return 1
        tc qdisc replace dev ifb0 root tbf rate "$(( DOWN * 8 ))bit" \
            burst "$down_burst" latency 200ms || return 1
    fi
}

route() {
    if [ -n "$V6_ONLY" ]; then
        ip -4 addr flush dev "$IFACE" || return 1
    fi
    if [ -n "$GW4" ]; then
        ip -4 route replace default via "$GW4" || return 1
    fi
    if [ -n "$GW6" ]; then
        ip -6 route replace default via "$GW6" || return 1
    fi
    if [ -n "$ROUTES" ]; then
        # An internet host of a simulation: no way off the run's networks.
        ip -4 route del default 2>/dev/null || true
        ip -6 route del default 2>/dev/null || true
        while read -r net via; do
            [ -n "$net" ] || continue
            ip route replace "$net" via "$via" || return 1
        done < "$ROUTES"
    fi
}

if [ -n "$UP$DOWN$DELAY$LOSS" ]; then
    [ "$(id -u)" = 0 ] || die "link shaping needs root: run with --user 0 --cap-add NET_ADMIN"
    shape || die "tc could not shape $IFACE (is NET_ADMIN granted?)"
fi
if [ -n "$GW4$GW6$ROUTES$V6_ONLY" ]; then
    [ "$(id -u)" = 0 ] || die "routing needs root: run with --user 0 --cap-add NET_ADMIN"
    route || die "could not set the routes of $IFACE (is NET_ADMIN granted?)"
fi
if [ -n "${PEERNODE_GO:-}" ]; then
    # Loaded and waiting: the go signal is a line written into the FIFO.
    : > "$PEERNODE_GO.waiting"
    read -r _ < "$PEERNODE_GO" || die "no go signal on $PEERNODE_GO"
    date +%s.%N > "$PEERNODE_GO.started"
fi
if [ -n "${PEERNODE_LISTEN_PORT:-}" ]; then
    own=$(ip -4 -o addr show dev "$IFACE" | awk '{ split($4, a, "/"); print a[1]; exit }')
    [ -n "$own" ] || die "$IFACE has no IPv4 address to listen on"
    set -- "$@" --listen "$own:$PEERNODE_LISTEN_PORT"
fi
if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid="${PEERNODE_UID:-10001}" --regid="${PEERNODE_GID:-10001}" \
        --clear-groups --inh-caps=-all -- peernode "$@"
fi
exec peernode "$@"
