#!/usr/bin/env bash
# Put peernode (docker/wheels/peernode/) and its runtime dependencies
# (docker/wheels/deps/) as wheels into the build context, so the
# image build installs them with no network (`pip install --no-index`).
#
#   docker/build-wheels.sh [PYTHON]     (default: the project's .venv python, else python3)
#
# The dependency wheels are downloaded once (PyPI) and reused; peernode's own wheel
# is rebuilt every time (it is the code under test). matplotlib is left out: only
# `peernode sim` draws plots, and it runs on the host, never in a container.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=docker/wheels/deps
OWN=docker/wheels/peernode
mkdir -p "$OUT" "$OWN"

"$PY" - > "$OUT/requirements.txt" <<'PYEOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.lower().startswith("matplotlib")))
PYEOF
# The tracker imports redis (tracker/redis_backend/store.py) but pyproject.toml does not list
# it yet; without it no tracker starts. Drop this line once pyproject lists it.
grep -qi '^redis' "$OUT/requirements.txt" || echo 'redis>=5' >> "$OUT/requirements.txt"
# pip resolves markers for the host's Python; Debian 12's is 3.11.2, where redis
# also wants async-timeout (python_full_version < 3.11.3).
echo 'async-timeout>=4.0.3' >> "$OUT/requirements.txt"

# Offline first (everything already here), the index only for what is missing.
if ! "$PY" -m pip download -q --no-index --find-links "$OUT" -d "$OUT" \
        --only-binary=:all: -r "$OUT/requirements.txt" 2>/dev/null; then
    "$PY" -m pip download -q -d "$OUT" --only-binary=:all: -r "$OUT/requirements.txt"
fi
# The build backend (setuptools, wheel) for peernode's own wheel, kept aside: not
# installed into the image.
TOOLS=docker/wheels/build-tools
if ! ls "$TOOLS"/setuptools-*.whl "$TOOLS"/wheel-*.whl >/dev/null 2>&1; then
    "$PY" -m pip download -q -d "$TOOLS" --only-binary=:all: 'setuptools>=68' wheel
fi
rm -f "$OWN"/*.whl
"$PY" -m pip wheel -q --no-deps --no-index --find-links "$TOOLS" -w "$OWN" .
ls "$OWN"/peernode-*.whl >/dev/null
