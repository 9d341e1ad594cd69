"""Tracker configuration: TOML loading, unknown keys and bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracker.config import SwarmPolicy, TrackerConfig
from tracker.errors import ConfigError

PATHS = {
    "ca_path": Path("/ca.pem"),
    "cert_path": Path("/s.pem"),
    "key_path": Path("/s.key"),
    "library_dir": Path("/lib"),
}


def test_defaults_suit_rentals() -> None:
    policy = SwarmPolicy()
    assert (policy.announce_interval_s, policy.min_announce_interval_s) == (300, 60)
    assert (policy.numwant_default, policy.numwant_max) == (50, 200)
    assert policy.peer_ttl_s == 600


def test_from_toml_with_overrides_and_relative_paths(tmp_path: Path) -> None:
    f = tmp_path / "tracker.toml"
    f.write_text(
        'library_dir = "films"\nidle_timeout_s = 5\nmax_connections = 10\n'
        "[swarm]\nannounce_interval_s = 120\nmin_announce_interval_s = 30\n"
        "origin_always_included = false\n"
    )
    cfg = TrackerConfig.from_toml(
        f,
        ca_path=Path("/ca.pem"),
        cert_path=Path("/s.pem"),
        key_path=Path("/s.key"),
        crl_path=None,
        max_connections=20,
    )
    assert cfg.library_dir == tmp_path / "films"
    assert cfg.idle_timeout_s == 5.0
    assert isinstance(cfg.idle_timeout_s, float)
    assert cfg.max_connections == 20  # the override wins
    assert cfg.crl_path is None
    assert cfg.swarm == SwarmPolicy(
        announce_interval_s=120, min_announce_interval_s=30, origin_always_included=False
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("idle_timeout = 5", "unknown configuration key idle_timeout"),
        ("[swarm]\ninterval = 5", "unknown configuration key swarm.interval"),
        ("swarm = 3", "swarm must be a table"),
        ('max_connections = "10"', "max_connections must be int"),
        ("max_connections = 1.5", "max_connections must be int"),
        ("max_connections = true", "max_connections must be int"),
        ("idle_timeout_s = false", "idle_timeout_s must be float"),
        ("[swarm]\norigin_always_included = 1", "origin_always_included must be bool"),
        ("library_dir = 3", "library_dir must be Path"),
        ("max_connections = 0", "max_connections must be at least 1"),
        ("listen_port = 70000", "listen_port must be in 0..65535"),
        ("idle_timeout_s = 0", "idle_timeout_s must be positive"),
        ("[swarm]\nmin_announce_interval_s = 400", "min_announce_interval_s"),
        ("[swarm]\nnumwant_default = 300", "numwant_default"),
        ("[swarm]\npeer_timeout_intervals = 0.5", "peer_timeout_intervals"),
        ("this is = not toml", "not valid TOML"),
        ("[probe]\nrate_per_s = 0", "probe.rate_per_s must be positive"),
        ("[probe]\nbogus = 1", "unknown configuration key probe.bogus"),
        ("networks = 1", "networks must be a table"),
        ('[networks]\n"10.0.0.0/33" = "a"', "networks: '10.0.0.0/33' is not a CIDR prefix"),
        ('[networks]\n"10.0.0.0/8" = 3', "networks: the name of 10.0.0.0/8 must be a string"),
        ("[swarm]\nlocal_share = 2", "local_share must be in 0..1"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, toml: str, message: str) -> None:
    f = tmp_path / "t.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        TrackerConfig.from_toml(f, **PATHS)


def test_missing_file_and_missing_required_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        TrackerConfig.from_toml(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="incomplete"):
        TrackerConfig.from_mapping({}, ca_path=Path("/ca.pem"))


def test_probe_policy_and_network_map_from_toml(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text(
        "[probe]\nconnect_timeout_s = 1\nper_ip_probes = 2\n"
        '[networks]\n"10.0.0.0/8" = "isp-a"\n"2001:db8::/32" = "isp-a"\n'
        "[swarm]\nmax_peers_per_serial = 8\nlocal_prefix_v4 = 16\n"
    )
    cfg = TrackerConfig.from_toml(f, **PATHS)
    assert (cfg.probe.connect_timeout_s, cfg.probe.per_ip_probes) == (1.0, 2)
    assert cfg.swarm.max_peers_per_serial == 8
    names = cfg.network_map()
    assert names.name_of(bytes([10, 1, 2, 3])) == "isp-a"
    assert names.name_of(bytes([192, 0, 2, 1])) == "192.0.0.0/16"
