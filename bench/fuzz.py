"""Mutational fuzzing of the four parsers that read bytes from outside.

Targets (each must raise only its package's own typed error on bad input):

- ``request``: ``tracker.parse_request_target`` -> `tracker.TrackerError`
- ``rental``: ``certs.read_rental_certificate`` and ``certs.open_rental`` -> `certs.CertsError`
- ``header``: ``peernode.container.header.parse_header`` -> `peernode.ContainerError`
- ``scenario``: ``sim.scenario.toml_file.load_scenario`` (bytes via a file) -> `ScenarioError`

A plain seeded mutational loop (atheris has no wheel for this Python): start from valid
inputs, apply 1-4 random mutations (bit flips, byte sets, inserts of random or
"interesting" bytes, deletions, duplications, splices with another seed, truncation),
feed the result, classify the outcome. Any other exception is a finding: its input is
saved under ``--crash-dir`` and counted. Prints one JSON line per target:
``{"target", "inputs", "accepted", "typed_errors", "crashes", "seconds", "inputs_per_s"}``.

Usage: ``python bench/fuzz.py --target all --inputs 1000000 [--seed N]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgpack

# Run as a script, bench/ comes first on sys.path and bench/tracker.py would shadow
# the `tracker` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from certs import (  # noqa: E402
    CertsError,
    generate_node_key,
    open_rental,
    read_rental_certificate,
)
from certs.authority import CA, make_rental_bundle  # noqa: E402
from peernode.container.header import (  # noqa: E402
    MIN_SEGMENT_BYTES,
    ContainerHeader,
    parse_header,
)
from peernode.errors import ContainerError  # noqa: E402
from sim.errors import ScenarioError  # noqa: E402
from sim.scenario.toml_file import load_scenario  # noqa: E402
from tracker import TrackerError, parse_request_target  # noqa: E402

Target = Callable[[bytes], object]

_INTERESTING = [
    b"\x00", b"\xff", b"\x7f", b"\x80", b"%", b"%00", b"%ff", b"%zz", b"&", b"=", b"?",
    b"\xc0", b"\xc1", b"\xde", b"\xdf", b"\xdc", b"\xdd", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00", b"\x92", b"\x81", b"\xa0", b"\xc4\x00",
    b"[", b"]", b"[[", b"\"", b"'", b"=", b"\n", b"-1", b"1e999", b"nan", b"inf", b"0x",
    b"true", b"9" * 30, b"\xe2\x80\xae", b"\xed\xa0\x80", b"\x30\x82\xff\xff", b"\x02\x01\x00",
]


def mutate(data: bytes, seeds: list[bytes], rng: random.Random) -> bytes:
    """Apply 1-4 random byte-level mutations to ``data`` (pure, seeded by ``rng``)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        n = len(buf)
        if op == 0 and n:
            i = rng.randrange(n)
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[rng.randrange(n)] = rng.randrange(256)
        elif op == 2:
            i = rng.randint(0, n)
            buf[i:i] = rng.randbytes(rng.randint(1, 16))
        elif op == 3:
            i = rng.randint(0, n)
            buf[i:i] = rng.choice(_INTERESTING)
        elif op == 4 and n:
            i = rng.randrange(n)
            del buf[i : i + rng.randint(1, max(1, n // 8))]
        elif op == 5 and n:
            i = rng.randrange(n)
            j = rng.randint(i, min(n, i + 64))
            k = rng.randint(0, n)
            buf[k:k] = buf[i:j]
        elif op == 6:
            other = rng.choice(seeds)
            cut = rng.randint(0, len(buf))
            buf = buf[:cut] + other[rng.randint(0, len(other)) :]
        elif op == 7 and n:
            del buf[rng.randint(0, n) :]
    return bytes(buf)


def _request_target() -> tuple[Target, type[Exception], list[bytes]]:
    h = "%AB" * 20
    seeds = [
        f"/announce?info_hash={h}&peer_id={h}&port=6881&uploaded=0&downloaded=0&left=10"
        f"&event=started&compact=1&numwant=50&key=abc&corrupt=0&redundant=0".encode(),
        f"/announce?info_hash={h}&peer_id={h}&port=1&uploaded=1&downloaded=2&left=0".encode(),
        f"/scrape?info_hash={h}&info_hash={'%CD' * 20}".encode(),
        b"/scrape",
    ]
    return parse_request_target, TrackerError, seeds


def _rental_target() -> tuple[Target, type[Exception], list[bytes]]:
    now = datetime.now(UTC)
    ca = CA.create("fuzz CA", now=now - timedelta(days=1))
    key = generate_node_key()
    cert = ca.issue_rental(
        "fuzz-film", key.public_key(), not_before=now - timedelta(hours=1),
        not_after=now + timedelta(hours=1),
    )
    bundle = make_rental_bundle(cert, os.urandom(32))
    record = msgpack.unpackb(bundle, raw=False)
    der = record["certificate"]

    def target(data: bytes) -> object:
        # The certificate's DER is where a parser bug would hide: half the time mutate
        # it inside an otherwise well-formed record rather than the msgpack framing.
        read_rental_certificate(data)
        return open_rental(data, key, ca.cert, now=now)

    def inner(data: bytes) -> bytes:
        return msgpack.packb({**record, "certificate": data}, use_bin_type=True)  # type: ignore[no-any-return]

    seeds = [bundle, der]
    wrapped: Target = lambda d: target(inner(d[1:]) if d[:1] == b"\x01" else d)  # noqa: E731
    return wrapped, CertsError, [bundle, b"\x01" + der, *seeds]


def _header_target() -> tuple[Target, type[Exception], list[bytes]]:
    header = ContainerHeader(
        film_id="fuzz-film", plaintext_bytes=123_456, segment_bytes=MIN_SEGMENT_BYTES,
        nonce_prefix=b"\x00" * 7, mime_type="video/mp4",
    )
    head = header.authenticated_bytes + b"\x55" * 32
    seed = head + bytes(MIN_SEGMENT_BYTES - len(head))
    # Mutations near the front matter; the zero padding is long, keep a short seed too.
    return parse_header, ContainerError, [seed, head]


def _scenario_target(workdir: Path) -> tuple[Target, type[Exception], list[bytes]]:
    path = workdir / "fuzz.toml"
    seeds = [p.read_bytes() for p in sorted(Path("sim/scenarios").glob("*.toml"))]

    def target(data: bytes) -> object:
        path.write_bytes(data)
        return load_scenario(path)

    return target, ScenarioError, seeds


def run(name: str, target: Target, expected: type[Exception], seeds: list[bytes], *,
        inputs: int, rng: random.Random, crash_dir: Path) -> dict[str, object]:
    """Feed ``inputs`` mutated inputs to ``target``; count outcomes, save crashing inputs."""
    accepted = typed = crashes = 0
    kinds: dict[str, int] = {}
    start = time.perf_counter()
    for i in range(inputs):
        data = seeds[i % len(seeds)] if i < len(seeds) else mutate(rng.choice(seeds), seeds, rng)
        try:
            target(data)
            accepted += 1
        except expected:
            typed += 1
        except Exception as e:
            crashes += 1
            kind = f"{type(e).__name__}: {str(e)[:80]}"
            if kinds.get(kind, 0) < 3:
                crash_dir.mkdir(parents=True, exist_ok=True)
                (crash_dir / f"{name}-{crashes}.bin").write_bytes(data)
            kinds[kind] = kinds.get(kind, 0) + 1
    seconds = time.perf_counter() - start
    return {
        "target": name, "inputs": inputs, "accepted": accepted, "typed_errors": typed,
        "crashes": crashes, "crash_kinds": kinds, "seconds": round(seconds, 1),
        "inputs_per_s": round(inputs / seconds),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", choices=["request", "rental", "header", "scenario", "all"],
                        default="all")
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    args = parser.parse_args()
    names = ["request", "rental", "header", "scenario"] if args.target == "all" else [args.target]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        makers: dict[str, Callable[[], tuple[Target, type[Exception], list[bytes]]]] = {
            "request": _request_target, "rental": _rental_target, "header": _header_target,
            "scenario": lambda: _scenario_target(Path(tmp)),
        }
        for name in names:
            target, expected, seeds = makers[name]()
            result = run(name, target, expected, seeds, inputs=args.inputs,
                         rng=random.Random(args.seed), crash_dir=args.crash_dir)
            print(json.dumps(result), flush=True)
            failed |= bool(result["crashes"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
