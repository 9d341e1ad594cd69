"""Key hygiene: secrets are 0600, refused when others can read them, and never logged."""

from __future__ import annotations

import base64
import io
import stat
import subprocess
from pathlib import Path

import pytest

from certs import generate_node_key, save_node_key
from certs.authority import load_content_key
from peernode.cli.demo import decrypts_to_original
from sim.demo import DemoConfig, run_demo
from support.processes import free_port

from .conftest import FILM_ID, HOST, PEERNODE, Operator


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0], errors[0]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEERNODE, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_fetch_refuses_a_node_key_others_can_read(operator: Operator, mode: int) -> None:
    client = operator.work / "client"
    save_node_key(client, generate_node_key())
    (client / "node.key").chmod(mode)
    (client / "rental.pvr").write_bytes(b"unused: the key is checked first")
    proc = _run("fetch", str(operator.film.torrent_path), "--rental", str(client / "rental.pvr"),
                "--node-key", str(client / "node.key"), "--out", str(client / "dl"))
    _one_line_error(proc, "accessible by other users")
    assert not (client / "dl").exists()


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_seed_refuses_a_seeder_key_others_can_read(operator: Operator, mode: int) -> None:
    key = operator.work / "seeder.key"
    key.chmod(mode)
    proc = _run("seed", "--library", str(operator.library), "--cert",
                str(operator.work / "seeder.pem"), "--key", str(key),
                "--listen", f"{HOST}:{free_port(HOST)}")
    _one_line_error(proc, "accessible by other users")


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_tracker_refuses_a_server_key_others_can_read(operator: Operator, mode: int) -> None:
    key = operator.work / "server.key"
    key.chmod(mode)
    proc = _run(*operator.tracker_args(key))
    _one_line_error(proc, "accessible by other users")


def test_packaging_stores_the_content_key_0600(operator: Operator) -> None:
    path = operator.film.key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o640)
    with pytest.raises(Exception, match="accessible by other users"):
        load_content_key(operator.ca_dir, FILM_ID)


def _secrets(work: Path) -> dict[str, bytes]:
    """Every secret of a demo run, in the forms a log line could carry."""
    found: dict[str, bytes] = {}
    content_key = load_content_key(work / "ca", "demo-film")
    found["content key (raw)"] = content_key
    found["content key (hex)"] = content_key.hex().encode()
    found["content key (HEX)"] = content_key.hex().upper().encode()
    found["content key (base64)"] = base64.b64encode(content_key)
    found["content key (repr)"] = repr(content_key).encode()
    pems = [p for p in work.rglob("*.key") if p.read_bytes().startswith(b"-----BEGIN")]
    assert len(pems) >= 5  # CA, tracker, origin, two clients
    for key in pems:
        body = b"".join(key.read_bytes().splitlines()[1:-1])
        found[f"{key.relative_to(work)} (PEM body)"] = body[:40]
    return found


async def test_no_secret_in_any_log_of_an_end_to_end_run(tmp_path: Path) -> None:
    """`peernode demo` (tracker, origin, 2 clients as processes) keeps every log; none
    holds a private key, a certificate PEM, or the content key in any encoding; every
    key file it wrote is 0600."""
    out = io.StringIO()
    report = await run_demo(DemoConfig(clients=2, size_mb=2.0, stagger_s=0.2, workdir=tmp_path),
                            decrypts_to_original, out=out)
    assert report.ok
    logs = [tmp_path / "tracker.log", tmp_path / "origin.log"]
    for client in sorted((tmp_path / "clients").glob("client-*")):
        logs += [client / "client.log", client / "status.jsonl", client / "summary.json"]
    texts = {str(p.relative_to(tmp_path)): p.read_bytes() for p in logs}
    texts["demo output"] = out.getvalue().encode()
    assert all(texts.values()), [k for k, v in texts.items() if not v]
    secrets = _secrets(tmp_path)
    for name, text in texts.items():
        assert b"PRIVATE KEY" not in text, name
        assert b"BEGIN CERTIFICATE" not in text, name
        for what, secret in secrets.items():
            assert secret not in text, f"{what} in {name}"
    for key in [*tmp_path.rglob("*.key"), *(tmp_path / "ca" / "keys").iterdir()]:
        assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0, key
