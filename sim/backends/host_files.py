"""The files of a pre-positioning run's hosts: a node key and a hosting credential each
(SAN = the film, no content key), the tracker's TOML with the origin-backup threshold,
and the ``peernode host`` command line. Blocking I/O: run it in a worker thread."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, save_node_key
from sim.backends.provision import RENTAL_SLACK, OperatorFiles
from sim.scenario.hosts import HostPlan
from sim.scenario.plan import SwarmPlan
from support.atomic_write import write_atomic, write_private
from support.hostport import format_hostport

__all__ = ["HostFiles", "host_args", "last_status", "provision_hosts", "tracker_config"]


@dataclass(frozen=True)
class HostFiles:
    """One host's directory and what its process reads and writes there."""

    directory: Path

    @property
    def node_key(self) -> Path:
        return self.directory / "node.key"

    @property
    def credential(self) -> Path:
        return self.directory / "hosting.pvh"

    @property
    def hosted_dir(self) -> Path:
        return self.directory / "hosted"

    @property
    def status_log(self) -> Path:
        return self.directory / "status.jsonl"

    @property
    def summary(self) -> Path:
        return self.directory / "summary.json"

    @property
    def log(self) -> Path:
        return self.directory / "host.log"


def provision_hosts(operator: OperatorFiles, plan: SwarmPlan, workdir: Path, *,
                    now: datetime) -> dict[str, HostFiles]:
    """A node key and a hosting credential of the operator's film for each planned host."""
    not_after = now + timedelta(seconds=plan.scenario.timeout_s) + RENTAL_SLACK
    hosts = {}
    for host in plan.hosts:
        files = HostFiles(workdir / "hosts" / host.name)
        key = generate_node_key()
        save_node_key(files.directory, key)
        cert = operator.ca.issue_hosting(operator.film_id, key.public_key(),
                                         not_before=now - timedelta(minutes=1),
                                         not_after=not_after)
        write_private(files.credential, cert.public_bytes(Encoding.PEM))
        hosts[host.name] = files
    return hosts


def tracker_config(workdir: Path, plan: SwarmPlan) -> Path | None:
    """The tracker's TOML for a run with hosts (the origin-backup threshold), else None."""
    spec = plan.scenario.hosts
    if spec is None:
        return None
    path = workdir / "tracker.toml"
    write_atomic(path, f"[swarm]\norigin_backup_hosts = {spec.backup_threshold}\n".encode())
    return path


def host_args(torrent: Path, files: HostFiles, host: HostPlan, *, quota_bytes: int,
              port: int = 0) -> list[str]:
    """``peernode host`` of ``torrent`` with the host's credential and caps."""
    return ["host", str(torrent), "--hosting", str(files.credential),
            "--node-key", str(files.node_key), "--out", str(files.hosted_dir),
            "--disk-quota", str(quota_bytes), "--listen", format_hostport(host.address, port),
            "--no-port-mapping", "--upload-limit", str(host.upload_bps),
            "--download-limit", str(host.download_bps), "--limit-local-peers",
            "--status-log", str(files.status_log), "--json"]


def last_status(files: HostFiles) -> dict[str, object] | None:
    """The host's last status line (its progress report), or None before the first."""
    try:
        lines = files.status_log.read_text(encoding="utf-8").strip().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line being written
        if isinstance(value, dict):
            return value
    return None
