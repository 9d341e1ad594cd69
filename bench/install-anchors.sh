#!/usr/bin/env bash
# The anchors some benchmarks measure beside ours, from Debian's packages:
# hitch (TLS terminator) and opentracker for bench/tracker.py. Their services are
# not started (the bench runs its own instances on loopback ports). Needs root.
set -euo pipefail
PACKAGES=(hitch opentracker)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
# keep the packages' init scripts from starting daemons on their default ports
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1
fi
trap '[ "$created" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
