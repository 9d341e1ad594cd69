#!/usr/bin/env bash
# Build the peernode image (default tag peernode:latest) from this checkout.
#
#   docker/build-image.sh                 FROM python:3.11-slim (a machine with a registry)
#   docker/build-image.sh --local-base    FROM peernode-base:bookworm-2, built by build-base.sh
#                                         first if absent (a machine without a registry)
#   IMAGE=name:tag BASE_IMAGE=... docker/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${IMAGE:-peernode:latest}"
BASE="${BASE_IMAGE:-python:3.11-slim}"
if [ "${1:-}" = "--local-base" ]; then
    BASE="${BASE_IMAGE:-peernode-base:bookworm-2}"
    # The base changes only with Debian: build it once and keep it.
    docker image inspect "$BASE" >/dev/null 2>&1 || docker/build-base.sh "$BASE" >/dev/null
fi
docker/build-wheels.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The legacy builder's deprecation notice goes to stderr: show it only on failure.
if ! docker build -q --force-rm --build-arg BASE_IMAGE="$BASE" -t "$IMAGE" docker/ \
        >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
# The image this tag pointed at before is now untagged: drop it (ours only, by label).
docker image prune -f --filter label=org.peernode.image=peernode >/dev/null
echo "$IMAGE"
