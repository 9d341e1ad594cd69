#!/bin/sh
# compose `client` service (run as root so the entrypoint can shape the link): claim
# the first free client slot of /data (mkdir is atomic, so scaled replicas never share
# one), download the film, and leave the JSON summary in /data/summaries/SLOT.json.
set -eu
D=/data
FILM_ID="${FILM_ID:-film}"
slot=1
while ! mkdir "$D/claims/$slot" 2>/dev/null; do
    slot=$(( slot + 1 ))
    [ -d "$D/clients/$slot" ] || { echo "error: no free client slot: raise RENTALS" >&2; exit 1; }
done
C="$D/clients/$slot"
mkdir -p "$C/download"
chown -R "${PEERNODE_UID:-10001}:${PEERNODE_GID:-10001}" "$C" "$D/summaries"
echo "client slot $slot" >&2
exec /usr/local/bin/peernode-entrypoint fetch "$D/library/$FILM_ID.torrent" \
    --rental "$C/rental.pvr" --node-key "$C/node.key" --out "$C/download" \
    --seed-for "${SEED_FOR:-60}" --json \
    > "$D/summaries/$slot.json"
