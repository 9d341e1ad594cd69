"""`peernode tracker` as a subprocess: bound address on stderr, announces, signals, errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tracker.admission import NOT_SERVED_TEXT

from .conftest import Pki, announce_target, bdecoded, issue_rental

LISTENING = re.compile(r"listening on (https://127\.0\.0\.1:(\d+)/announce)")


def tracker_argv(pki: Pki, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "peernode",
        "tracker",
        "--ca",
        str(pki.ca_path),
        "--cert",
        str(pki.cert_path),
        "--key",
        str(pki.key_path),
        "--library",
        str(pki.library),
        "--crl",
        str(pki.crl_path),
        *extra,
    ]


def test_cli_serves_announces_reloads_on_sighup_and_stops_on_sigterm(pki: Pki) -> None:
    proc = subprocess.Popen(
        tracker_argv(pki, "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = LISTENING.search(line)
        assert match, line
        metrics_line = proc.stderr.readline()
        assert metrics_line.startswith("metrics on http://127.0.0.1:")
        url, port = match.group(1), int(match.group(2))

        rental = issue_rental(pki.ca, "film-b")
        ctx = pki.client_context(rental.cert_pem, rental.key_pem)
        target = announce_target(pki.films["film-a"].info_hash, 1).decode()
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{target}", context=ctx) as r:
            body = bdecoded(r.read())
        assert body[b"failure reason"] == NOT_SERVED_TEXT.encode()
        assert url.endswith(f":{port}/announce")

        proc.send_signal(signal.SIGHUP)  # reload, keep running
        with urllib.request.urlopen(metrics_line.split()[2], timeout=10) as r:
            text = r.read().decode()
        assert 'tracker_announces_total{reason="film_mismatch",result="refused"} 1.0' in text

        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "reason=film_mismatch film=film-a" in err  # the refusal, logged at WARNING
    assert "shutting down" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda p, tmp: ["--ca", str(tmp / "missing.pem")], "CA certificate", id="missing CA"
        ),
        pytest.param(
            lambda p, tmp: ["--library", str(tmp / "nowhere")], "library", id="missing library"
        ),
        pytest.param(lambda p, tmp: ["--listen", "127.0.0.1:99999"], "invalid port", id="bad port"),
        pytest.param(
            lambda p, tmp: ["--config", str(_toml(tmp, "bogus_key = 1"))],
            "unknown configuration key bogus_key",
            id="unknown config key",
        ),
        pytest.param(
            lambda p, tmp: [_loosen(p)], "accessible by other users", id="key readable by others"
        ),
        pytest.param(
            lambda p, tmp: ["--config", str(_toml(tmp, '[networks]\n"10.0.0.1/8" = "isp"'))],
            "networks: '10.0.0.1/8' is not a CIDR prefix",
            id="bad CIDR",
        ),
        pytest.param(
            lambda p, tmp: ["--metrics", "127.0.0.1:0", "--metrics-allow", "10.0.0.0/33"],
            "metrics_allow: '10.0.0.0/33' is not a CIDR prefix",
            id="bad metrics-allow CIDR",
        ),
    ],
)
def test_cli_bad_input_is_one_error_line(
    pki: Pki, tmp_path: Path, change: object, message: str
) -> None:
    assert callable(change)
    extra = [a for a in change(pki, tmp_path) if a]
    argv = tracker_argv(pki)
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    if "--listen" not in argv:
        argv += ["--listen", "127.0.0.1:0"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_cli_listens_on_every_listen_address(pki: Pki) -> None:
    proc = subprocess.Popen(
        tracker_argv(pki, "--listen", "127.0.0.1:0", "--listen", "[::1]:0"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert LISTENING.search(proc.stderr.readline())
        rental = issue_rental(pki.ca, "film-a")
        ctx = pki.client_context(rental.cert_pem, rental.key_pem)
        port6 = _v6_port(proc.pid)
        target = announce_target(pki.films["film-a"].info_hash, 1).decode()
        with urllib.request.urlopen(f"https://[::1]:{port6}{target}", context=ctx) as r:
            assert b"peers" in bdecoded(r.read())
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0


def _v6_port(pid: int) -> int:
    """The port of the process's listening IPv6 TCP socket on ::1 (from /proc)."""
    inodes = {
        link.readlink().name[len("socket:[") : -1]
        for link in Path(f"/proc/{pid}/fd").iterdir()
        if link.readlink().name.startswith("socket:[")
    }
    loopback6 = "00000000000000000000000001000000"
    for line in Path("/proc/net/tcp6").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and inode in inodes and local.startswith(loopback6):
            return int(local.split(":")[1], 16)
    raise AssertionError("no IPv6 listener on ::1")


def _toml(tmp: Path, text: str) -> Path:
    path = tmp / "tracker.toml"
    path.write_text(text)
    return path


def _loosen(pki: Pki) -> str:
    pki.key_path.chmod(0o644)
    return ""


def test_running_without_a_crl_must_be_said_explicitly(pki: Pki) -> None:
    argv = tracker_argv(pki, "--listen", "127.0.0.1:0")
    without = argv[: argv.index("--crl")] + argv[argv.index("--crl") + 2 :]
    for args, message in ((without, "--no-crl"), ([*argv, "--no-crl"], "contradict")):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert proc.returncode != 0
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("error: ")
        assert message in line
