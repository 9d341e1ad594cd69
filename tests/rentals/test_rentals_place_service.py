"""`peernode place --service URL`: the placement command issues hosting credentials
through the rental service (so they are in its store and renew over mutual TLS) and
revokes a dropped host's there (so it is on the service's CRL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import trio

import certs
from certs.authority import save_content_key
from certs.hosting import open_hosting_credential, read_hosting_file
from tests.rentals.conftest import ServiceFiles, serve
from tests.tracker.conftest import PLACEHOLDER_URL, make_film

PEERNODE = str(Path(sys.executable).with_name("peernode"))
FILM_P = "premiere"


async def _place(*args: object) -> subprocess.CompletedProcess[bytes]:
    proc = await trio.run_process([PEERNODE, "place", *map(str, args)], capture_stdout=True,
                                  capture_stderr=True, check=False)
    assert b"Traceback" not in proc.stderr
    return proc


async def test_place_issues_and_revokes_through_the_rental_service(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = make_film(files.library, FILM_P, files.ca.cert_pem, PLACEHOLDER_URL)
    save_content_key(files.ca_dir, FILM_P, os.urandom(32))  # in the catalogue
    tmp = files.dir
    rows = []
    keys = {}
    for name, address in (("a1", "10.1.0.1"), ("b1", "10.2.0.1")):
        keys[name] = certs.generate_node_key()
        certs.save_node_key(tmp / "keys" / name, keys[name])
        rows.append({"name": name, "address": address, "quota_bytes": 10**7,
                     "node_pub": f"keys/{name}/node.pub"})
    hosts = tmp / "hosts.json"
    hosts.write_text(json.dumps({"hosts": rows}))
    key_file = tmp / "operator.key"
    key_file.write_text(files.add_key("operator") + "\n")
    async with serve(files) as running:
        common = ["--hosts", hosts, "--state", tmp / "state.json", "--torrent", film.torrent_path,
                  "--out", tmp / "out", "--copies", "2", "--service", running.url,
                  "--service-key-file", key_file, "--service-ca", files.ca_dir / "ca.pem",
                  "--hours", 72]
        proc = await _place(*common)
        assert proc.returncode == 0, proc.stderr
        plan = json.loads(proc.stdout.splitlines()[-1])
        assert sorted(plan["add"]) == ["a1", "b1"]
        assert plan["service_url"] == running.url.rstrip("/")  # where the hosts renew
        placed = json.loads((tmp / "state.json").read_text())["films"][FILM_P]["hosts"]
        for name in ("a1", "b1"):
            pvh = read_hosting_file(tmp / "out" / name / f"{FILM_P}.pvh")
            credential = open_hosting_credential(pvh, keys[name], files.ca.cert)
            assert credential.serial == placed[name]
            # the service holds it: the hosting is in its store with this serial
            assert running.service.store.hosting(credential.serial) is not None  # type: ignore[attr-defined]

        # b1 leaves: its hosting is revoked at the service, so on the service's CRL
        rows[1]["online"] = False
        hosts.write_text(json.dumps({"hosts": rows}))
        proc = await _place(*common)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["drop"] == ["b1"]
        crl = certs.read_crl_file(files.ca_dir / "crl.pem")
        assert placed["b1"] in certs.revoked_serials(crl)
        assert placed["a1"] not in certs.revoked_serials(crl)

        # a bad key: one line, non-zero, the service's reason
        key_file.write_text("pnk_nope.nope\n")
        rows[1]["online"] = True
        hosts.write_text(json.dumps({"hosts": rows}))
        proc = await _place(*common)
        assert proc.returncode == 1
        assert proc.stderr.startswith(b"error: ")
        assert b"401 unauthenticated" in proc.stderr
        # without --ca-dir or --service
        proc = await _place("--hosts", hosts, "--state", tmp / "state.json", "--torrent",
                            film.torrent_path, "--out", tmp / "out", "--copies", "1")
        assert proc.returncode == 1
        assert b"--ca-dir" in proc.stderr
