"""`peernode ca ...` and `peernode keygen` as operators run them: real subprocesses."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from certs import (
    load_node_key,
    open_rental,
    read_crl_file,
    read_rental_file,
    revoked_serials,
    verify_crl,
)
from certs.authority import CA, save_content_key

# the console script installed beside the interpreter running the tests (any checkout, any venv)
PEERNODE = str(Path(sys.executable).with_name("peernode"))
FILM = "night-of-the-living-dead"


def peernode(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; never a traceback, whatever happens."""
    proc = subprocess.run(
        [PEERNODE, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def ok(*args: str | Path) -> str:
    proc = peernode(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fails(*args: str | Path, match: str) -> str:
    """Assert a one-line ``error: ...`` and exit 1; return the line."""
    proc = peernode(*args)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert match in lines[0], lines[0]
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory with a CA made by `ca init`, a node key, and FILM's content key."""
    work = tmp_path_factory.mktemp("operator")
    ok("ca", "init", "--dir", work / "ca", "--name", "Test Films CA")
    ok("keygen", "--out", work / "node")
    save_content_key(work / "ca", FILM, bytes(range(32)))
    return work


def test_init_writes_the_ca_with_private_key_0600(operator: Path) -> None:
    ca_dir = operator / "ca"
    assert mode(ca_dir / "ca.key") == 0o600
    assert mode(ca_dir / "ca.pem") == 0o644
    ca = CA.load(ca_dir)
    assert ca.name == "Test Films CA"
    crl = read_crl_file(ca_dir / "crl.pem")
    verify_crl(crl, ca.cert)
    assert revoked_serials(crl) == frozenset()


def test_init_refuses_an_existing_ca(operator: Path) -> None:
    before = (operator / "ca" / "ca.key").read_bytes()
    fails("ca", "init", "--dir", operator / "ca", match="already exists")
    assert (operator / "ca" / "ca.key").read_bytes() == before


def test_keygen_writes_node_key_0600_and_refuses_overwrite(operator: Path) -> None:
    assert mode(operator / "node" / "node.key") == 0o600
    assert load_node_key(operator / "node" / "node.key")
    assert (operator / "node" / "node.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
    fails("keygen", "--out", operator / "node", match="already has a key")


def test_issue_server(operator: Path, tmp_path: Path) -> None:
    out = ok(
        "ca", "issue-server", "--ca-dir", operator / "ca", "--host", "127.0.0.1",
        "--host", "tracker.example", "--out", tmp_path,
    )  # fmt: skip
    assert "server.pem" in out
    assert mode(tmp_path / "server.key") == 0o600
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert san.get_values_for_type(x509.DNSName) == ["tracker.example"]
    fails(
        "ca", "issue-server", "--ca-dir", operator / "ca", "--host", "x.example", "--out", tmp_path,
        match="already exists",
    )  # fmt: skip


def test_issue_seeder(operator: Path, tmp_path: Path) -> None:
    ok("ca", "issue-seeder", "--ca-dir", operator / "ca", "--out", tmp_path)
    assert mode(tmp_path / "seeder.key") == 0o600
    cert = x509.load_pem_x509_certificate((tmp_path / "seeder.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["*"]


def test_rent_prints_the_serial_and_writes_an_openable_bundle(
    operator: Path, tmp_path: Path
) -> None:
    out = ok(
        "ca", "rent", "--ca-dir", operator / "ca", "--film-id", FILM,
        "--node-pub", operator / "node" / "node.pub", "--hours", "1.5",
        "--not-before", "2026-05-01T20:00:00+02:00", "--out", tmp_path / "r.pvr",
    )  # fmt: skip
    serial = int(out.strip())  # the only stdout: the serial, in decimal
    assert mode(tmp_path / "r.pvr") == 0o600
    start = datetime.fromisoformat("2026-05-01T18:00:00+00:00")
    rental = open_rental(
        read_rental_file(tmp_path / "r.pvr"),
        load_node_key(operator / "node" / "node.key"),
        CA.load(operator / "ca").cert,
        now=start + timedelta(minutes=1),
    )
    assert rental.serial == serial
    assert rental.film_id == FILM
    assert (rental.not_before, rental.not_after) == (start, start + timedelta(hours=1.5))
    assert rental.content_key == bytes(range(32))


def test_rent_defaults_to_starting_now(operator: Path, tmp_path: Path) -> None:
    ok(
        "ca", "rent", "--ca-dir", operator / "ca", "--film-id", FILM,
        "--node-pub", operator / "node" / "node.pub", "--hours", "2", "--out", tmp_path / "r.pvr",
    )  # fmt: skip
    rental = open_rental(
        read_rental_file(tmp_path / "r.pvr"),
        load_node_key(operator / "node" / "node.key"),
        CA.load(operator / "ca").cert,
    )
    assert rental.not_after - rental.not_before == timedelta(hours=2)


def _rent(operator: Path, out: Path) -> int:
    node_pub = operator / "node" / "node.pub"
    args: list[str | Path] = ["--film-id", FILM, "--node-pub", node_pub, "--hours", "1"]
    args += ["--out", out]
    return int(ok("ca", "rent", "--ca-dir", operator / "ca", *args))


def test_revoke_by_rental_and_by_serial(operator: Path, tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    shutil.copytree(operator / "ca", ca_dir)
    serial = _rent(operator, tmp_path / "r.pvr")
    assert str(serial) in ok("ca", "revoke", "--ca-dir", ca_dir, "--rental", tmp_path / "r.pvr")
    ok("ca", "revoke", "--ca-dir", ca_dir, "--serial", "0x1F")
    ok("ca", "revoke", "--ca-dir", ca_dir, "--serial", "31")  # the same, again: idempotent
    ok("ca", "revoke", "--ca-dir", ca_dir, "--serial", str(serial))
    crl = read_crl_file(ca_dir / "crl.pem")
    verify_crl(crl, CA.load(ca_dir).cert)
    assert revoked_serials(crl) == {serial, 31}
    assert "2 revoked" in ok("ca", "crl", "--ca-dir", ca_dir, "--next-update-hours", "48")


def test_revoke_refuses_a_rental_of_another_ca(operator: Path, tmp_path: Path) -> None:
    ok("ca", "init", "--dir", tmp_path / "other")
    _rent(operator, tmp_path / "r.pvr")
    fails(
        "ca", "revoke", "--ca-dir", tmp_path / "other", "--rental", tmp_path / "r.pvr",
        match="not by",
    )  # fmt: skip


@pytest.mark.parametrize("serial", ["abc", "0x", "-5", "0", "1.5", "0x" + "f" * 41])
def test_revoke_refuses_bad_serials(operator: Path, serial: str) -> None:
    fails("ca", "revoke", "--ca-dir", operator / "ca", "--serial", serial, match="serial")


def test_wrong_ca_dir(tmp_path: Path) -> None:
    fails("ca", "issue-seeder", "--ca-dir", tmp_path / "nope", "--out", tmp_path, match="nope")
    fails(
        "ca", "issue-seeder", "--ca-dir", tmp_path, "--out", tmp_path, match="ca.pem does not exist"
    )
    fails("ca", "revoke", "--ca-dir", tmp_path, "--serial", "5", match="ca.pem does not exist")


def test_group_readable_ca_key_is_refused(operator: Path, tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    shutil.copytree(operator / "ca", ca_dir)
    (ca_dir / "ca.key").chmod(0o640)
    line = fails(
        "ca", "issue-server", "--ca-dir", ca_dir, "--host", "h.example", "--out", tmp_path,
        match="accessible by other users",
    )  # fmt: skip
    assert "chmod 600" in line
    assert not (tmp_path / "server.pem").exists()


def _rent_fails(operator: Path, out: Path, *extra: str | Path, match: str) -> None:
    args: dict[str, str | Path] = {
        "--ca-dir": operator / "ca",
        "--film-id": FILM,
        "--node-pub": operator / "node" / "node.pub",
        "--hours": "1",
        "--out": out,
    }
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[str(flag)] = value
    fails("ca", "rent", *[x for pair in args.items() for x in pair], match=match)
    assert not out.exists() or out.name == "exists.pvr"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (("--not-before", "yesterday"), "invalid --not-before"),
        (("--not-before", "2026-13-01T00:00:00Z"), "invalid --not-before"),
        (("--not-before", "2026-05-01T20:00:00"), "no timezone"),
        (("--hours", "zero"), "invalid --hours"),
        (("--hours", "-2"), "positive"),
        (("--hours", "nan"), "positive"),
        (("--film-id", "Bad Film"), "invalid film id"),
        (("--film-id", "never-packaged"), "no content key"),
    ],
)
def test_rent_refuses_bad_input(
    operator: Path, tmp_path: Path, extra: tuple[str, str], match: str
) -> None:
    _rent_fails(operator, tmp_path / "r.pvr", *extra, match=match)


def test_rent_refuses_a_missing_or_bad_node_pub(operator: Path, tmp_path: Path) -> None:
    _rent_fails(operator, tmp_path / "r.pvr", "--node-pub", tmp_path / "x.pub", match="x.pub")
    (tmp_path / "bad.pub").write_text("not a key")
    _rent_fails(operator, tmp_path / "r.pvr", "--node-pub", tmp_path / "bad.pub", match="PEM")


def test_rent_refuses_to_overwrite_a_bundle(operator: Path, tmp_path: Path) -> None:
    (tmp_path / "exists.pvr").write_bytes(b"keep me")
    _rent_fails(operator, tmp_path / "exists.pvr", match="already exists")
    assert (tmp_path / "exists.pvr").read_bytes() == b"keep me"


def test_revoke_with_a_missing_or_garbage_rental(operator: Path, tmp_path: Path) -> None:
    ca_dir = operator / "ca"
    fails("ca", "revoke", "--ca-dir", ca_dir, "--rental", tmp_path / "x.pvr", match="x.pvr")
    (tmp_path / "junk.pvr").write_bytes(b"\x00junk")
    fails("ca", "revoke", "--ca-dir", ca_dir, "--rental", tmp_path / "junk.pvr", match="bundle")


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (["ca", "init"], ["--dir", "--name"]),
        (["ca", "issue-server"], ["--ca-dir", "--host", "--out"]),
        (["ca", "issue-seeder"], ["--ca-dir", "--out"]),
        (["ca", "rent"], ["--ca-dir", "--film-id", "--node-pub", "--hours", "--not-before"]),
        (["ca", "revoke"], ["--ca-dir", "--serial", "--rental"]),
        (["ca", "crl"], ["--ca-dir", "--next-update-hours"]),
        (["keygen"], ["--out"]),
    ],
)
def test_help(command: list[str], flags: list[str]) -> None:
    text = ok(*command, "--help")
    for flag in flags:
        assert flag in text


def test_a_single_label_tracker_name_is_refused(operator: Path, tmp_path: Path) -> None:
    line = fails(
        "ca", "issue-server", "--ca-dir", operator / "ca", "--host", "tracker", "--out", tmp_path,
        match="needs a dot",
    )  # fmt: skip
    assert "film id" in line
    assert not (tmp_path / "server.pem").exists()
