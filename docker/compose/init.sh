#!/bin/sh
# compose `init` service: a throwaway CA, the tracker's and origin's certificates, a
# synthetic film packaged into the library, and RENTALS client slots (node key +
# rental each) in the shared volume /data. Does nothing if /data is already set up.
set -eu
D=/data
if [ -f "$D/ready" ]; then echo "init: $D already provisioned"; exit 0; fi
FILM_ID="${FILM_ID:-film}"
peernode ca init --dir "$D/ca" --name "peernode compose CA"
# tracker names need a dot (they must never equal a film id): a network alias, below
peernode ca issue-server --ca-dir "$D/ca" --host tracker.swarm.test --out "$D/tracker"
peernode ca issue-seeder --ca-dir "$D/ca" --out "$D/origin"
head -c "$(( ${FILM_MIB:-64} * 1048576 ))" /dev/urandom > "$D/film.bin"
peernode package "$D/film.bin" --film-id "$FILM_ID" --ca-dir "$D/ca" \
    --tracker "https://tracker.swarm.test:8443/announce" --out "$D/library"
rm "$D/film.bin"
i=1
while [ "$i" -le "${RENTALS:-20}" ]; do
    peernode keygen --out "$D/clients/$i" >/dev/null
    peernode ca rent --ca-dir "$D/ca" --film-id "$FILM_ID" --node-pub "$D/clients/$i/node.pub" \
        --hours "${RENTAL_HOURS:-24}" --out "$D/clients/$i/rental.pvr" >/dev/null
    i=$(( i + 1 ))
done
mkdir -p "$D/claims" "$D/summaries"
touch "$D/ready"
echo "init: CA, film $FILM_ID (${FILM_MIB:-64} MiB) and ${RENTALS:-20} rentals in $D"
