#!/usr/bin/env bash
# Build a local Debian 12 base image (python3 3.11, iproute2 for tc) for a
# machine that has a Docker Engine but no registry to pull python:3.11-slim from.
#
#   docker/build-base.sh [TAG]        (default TAG: peernode-base:bookworm-2; needs root + debootstrap)
#
# The mirror is the one apt on this machine already uses (read from
# /etc/apt/sources.list*), so the script works wherever apt works.
set -euo pipefail

TAG="${1:-peernode-base:bookworm-2}"
SUITE=bookworm
# The routers of home-network runs need nftables, miniupnpd (nftables flavour) and
# stund; the tag says which package list a cached base has (bump it with the list).
PACKAGES=python3,python3-venv,iproute2,ca-certificates,nftables,miniupnpd-nftables,stun-server

mirror_from_apt() {
    # deb822 files: "URIs: http://host/debian"; one-line files: "deb http://host/debian bookworm main".
    local m
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)
    if [ -z "$m" ]; then
        m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{print $2}' | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)
    fi
    echo "$m"
}

MIRROR="${DEBIAN_MIRROR:-$(mirror_from_apt)}"
if [ -z "$MIRROR" ]; then
    echo "error: no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR" >&2
    exit 1
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap is not installed" >&2; exit 1; }

ROOTFS=$(mktemp -d /tmp/peernode-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

echo "debootstrap $SUITE from $MIRROR into $ROOTFS" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >&2

# Slim it: package caches, docs and locales are not needed to run peernode.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/*
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true

tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$TAG" >/dev/null
echo "$TAG"
