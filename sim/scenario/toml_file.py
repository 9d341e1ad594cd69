"""Scenario files: TOML into a `Scenario`, with one-line errors naming the key.

Layout (see ``sim/scenarios/*.toml``)::

    name = "flash-crowd"          # required
    film_mib = 64                 # required; MiB of plaintext film
    seed = 1                      # planning seed (the command line may override it)
    timeout_s = 600               # the run stops here, finished or not
    [origin]  upload_bps = "4M"   # RATE: bytes/s or "500K"/"4M"/"1G"; 0 = unlimited
              super_seed = true   # BEP 16 with a warm start (default); false: plain seeding
    [clients] count = 20
              download_bps = "4M" # a fixed link ...
              upload_bps = "4M"
              seed_after_completion_s = 600
              churn_fraction = 0.0
    [[clients.links]]             # ... or a weighted mix of links
              name = "fibre"  weight = 1  download_bps = "50M"  upload_bps = "10M"
    [arrivals] kind = "flash-crowd"  within_s = 2
           or  kind = "poisson"  rate_per_s = 0.5   (or window_s = 60)
    [[events]] at_s = 20  action = "origin-down"  how = "kill"   # or "term"
    [[events]] at_s = 40  action = "origin-up"
    [[events]] at_s = 30  action = "client-kill"  client = 3
    [[events]] at_s = 35  action = "client-partition"  client = 2   # docker backend only
    [[events]] at_s = 45  action = "client-heal"  client = 2
    [network]                     # homes behind routers, grouped into ISPs (docker backend)
              isps = ["east", "west"]        # homes split equally ...
              locality = true     # the tracker prefers peers of the same ISP (default)
    [[network.isps]]              # ... or ISPs with weights
              name = "east"  weight = 2
    [network.homes]               # router kind -> share of the clients (adding up to 1)
              public = 0.25  nat = 0.25  "nat-upnp" = 0.25  "dual-stack" = 0.25
              # kinds: public, nat, nat-upnp, dual-stack, v6-only
    [hosts]                       # pre-positioning (sim.scenario.hosts): K hosts placed
              count = 4  upload_bps = "4M"  download_bps = "2M"  # before the release
              placement_timeout_s = 300  origin_backup_hosts = 4

Unknown keys are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.errors import ScenarioError
from sim.scenario.homes import HomeKind
from sim.scenario.hosts import HostsSpec
from sim.scenario.model import (
    Arrivals,
    ClientsSpec,
    EventAction,
    FlashCrowd,
    LinkProfile,
    OriginSpec,
    PoissonArrivals,
    Scenario,
    SimEvent,
    StopHow,
)
from sim.scenario.network import HomeShare, IspSpec, NetworkSpec
from support.errors import InputError
from support.units import parse_rate

__all__ = ["load_scenario", "scenario_from_mapping"]

_FIXED_LINK_NAME = "fixed"
_TOP_KEYS = ("name", "description", "film_mib", "seed", "timeout_s", "origin", "clients",
             "arrivals", "events", "network", "hosts")
_HOSTS_KEYS = ("count", "upload_bps", "download_bps", "placement_timeout_s",
               "origin_backup_hosts")
_ORIGIN_KEYS = ("upload_bps", "super_seed")
_CLIENTS_KEYS = ("count", "download_bps", "upload_bps", "links", "seed_after_completion_s",
                 "churn_fraction")
_LINK_KEYS = ("name", "weight", "download_bps", "upload_bps")
_ARRIVALS_KEYS = ("kind", "within_s", "rate_per_s", "window_s")
_EVENT_KEYS = ("at_s", "action", "client", "how")
_NETWORK_KEYS = ("isps", "homes", "locality")
_ISP_KEYS = ("name", "weight")


class _Table:
    """One TOML table being read: refuses unknown keys up front, then typed getters."""

    def __init__(self, where: str, raw: object, keys: tuple[str, ...]) -> None:
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"{where or 'the file'} must be a table")
        self.where = where
        self._raw: dict[str, Any] = dict(raw)
        # Unknown keys first: a typo ("film_mb") must be named as such, not
        # reported as the missing key it was meant to be.
        unknown = sorted(set(self._raw) - set(keys))
        if unknown:
            raise ScenarioError(
                f"unknown key {self._key(unknown[0])!r} (known here: {', '.join(keys)})"
            )

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, *, required: bool) -> Any:
        if self._raw.get(key) is None and required:
            raise ScenarioError(f"{self._key(key)} is missing")
        return self._raw.get(key)

    def raw(self, key: str) -> Any:
        """The value as parsed, None if absent (for tables read by hand)."""
        return self._raw.get(key)

    def has(self, key: str) -> bool:
        return key in self._raw

    def string(self, key: str, default: str | None = None) -> str:
        value = self._get(key, required=default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, str):
            raise ScenarioError(f"{self._key(key)} must be a string")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, required=False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ScenarioError(f"{self._key(key)} must be true or false")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._get(key, required=default is None)
        if value is None:
            assert default is not None
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(f"{self._key(key)} must be an integer")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self._get(key, required=default is None)
        if value is None:
            assert default is not None
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{self._key(key)} must be a number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return self.number(key) if self.has(key) else None

    def rate(self, key: str) -> int:
        """A RATE: an integer of bytes/s or a string such as ``"4M"``; negative is refused."""
        value = self._get(key, required=True)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ScenarioError(f"{self._key(key)} must be bytes/s or a string like \"4M\"")
        if isinstance(value, int):
            rate = value
        elif value.strip().startswith("-"):
            rate = -1
        else:
            try:
                rate = parse_rate(value)
            except InputError as e:
                raise ScenarioError(f"{self._key(key)}: {e}") from None
        if rate < 0:
            raise ScenarioError(
                f"{self._key(key)} must not be negative (bytes/s, 0 = unlimited), got {value!r}"
            )
        return rate

    def tables(self, key: str, keys: tuple[str, ...]) -> list[_Table]:
        value = self._get(key, required=False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ScenarioError(f"{self._key(key)} must be an array of tables ([[{key}]])")
        return [_Table(f"{self._key(key)}[{i}]", item, keys) for i, item in enumerate(value)]

    def table(self, key: str, keys: tuple[str, ...]) -> _Table:
        return _Table(self._key(key), self._get(key, required=True), keys)

    def refuse(self, keys: tuple[str, ...], why: str) -> None:
        """Refuse keys that are known to the table but meaningless in this variant."""
        for key in keys:
            if self.has(key):
                raise ScenarioError(f"{self._key(key)} is not allowed {why}")


def _link(table: _Table, name: str) -> LinkProfile:
    return LinkProfile(
        name=name,
        download_bps=table.rate("download_bps"),
        upload_bps=table.rate("upload_bps"),
        weight=table.number("weight", 1.0),
    )


def _clients(table: _Table) -> ClientsSpec:
    count = table.integer("count")
    mix = table.tables("links", _LINK_KEYS)
    if mix and (table.has("download_bps") or table.has("upload_bps")):
        raise ScenarioError(
            "clients: give either download_bps/upload_bps or [[clients.links]], not both"
        )
    if mix:
        links = [_link(item, item.string("name")) for item in mix]
    else:
        links = [LinkProfile(_FIXED_LINK_NAME, table.rate("download_bps"),
                             table.rate("upload_bps"))]
    return ClientsSpec(
        count=count,
        links=tuple(links),
        seed_after_completion_s=table.number("seed_after_completion_s", 0.0),
        churn_fraction=table.number("churn_fraction", 0.0),
    )


def _arrivals(table: _Table) -> Arrivals:
    kind = table.string("kind")
    if kind == "flash-crowd":
        table.refuse(("rate_per_s", "window_s"), "with kind = 'flash-crowd'")
        return FlashCrowd(within_s=table.number("within_s", 0.0))
    if kind == "poisson":
        table.refuse(("within_s",), "with kind = 'poisson' (use window_s or rate_per_s)")
        return PoissonArrivals(
            rate_per_s=table.optional_number("rate_per_s"),
            window_s=table.optional_number("window_s"),
        )
    raise ScenarioError(f"arrivals.kind must be 'flash-crowd' or 'poisson', got {kind!r}")


def _event(table: _Table) -> SimEvent:
    action_text = table.string("action")
    try:
        action = EventAction(action_text)
    except ValueError:
        choices = ", ".join(a.value for a in EventAction)
        raise ScenarioError(f"{table.where}.action must be one of {choices}; "
                            f"got {action_text!r}") from None
    how_text = table.string("how", StopHow.KILL.value)
    try:
        how = StopHow(how_text)
    except ValueError:
        raise ScenarioError(f"{table.where}.how must be 'kill' or 'term', "
                            f"got {how_text!r}") from None
    return SimEvent(
        at_s=table.number("at_s"),
        action=action,
        client=table.integer("client") if table.has("client") else None,
        how=how,
    )


def _isps(table: _Table) -> tuple[IspSpec, ...]:
    value = table.raw("isps")
    if value is None:
        raise ScenarioError("network.isps is missing: name at least one ISP")
    if not isinstance(value, list):
        raise ScenarioError("network.isps must be a list of names or an array of tables "
                            "([[network.isps]])")
    if all(isinstance(item, str) for item in value):
        return tuple(IspSpec(item) for item in value if isinstance(item, str))
    if any(isinstance(item, str) for item in value):
        raise ScenarioError("network.isps: give names or tables, not both")
    return tuple(IspSpec(name=t.string("name"), weight=t.number("weight", 1.0))
                 for t in table.tables("isps", _ISP_KEYS))


def _homes(raw: object) -> tuple[HomeShare, ...]:
    if raw is None:
        raise ScenarioError("network.homes is missing: give router kinds as shares "
                            "([network.homes] nat = 0.5 ...)")
    if not isinstance(raw, Mapping):
        raise ScenarioError("network.homes must be a table (router kind = share)")
    shares = []
    for key, value in raw.items():
        try:
            kind = HomeKind(key)
        except ValueError:
            known = ", ".join(k.value for k in HomeKind)
            raise ScenarioError(f"network.homes: unknown router kind {key!r} "
                                f"(known: {known})") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"network.homes.{key} must be a number (a share of the "
                                f"clients)")
        shares.append(HomeShare(kind, float(value)))
    return tuple(shares)


def _network(table: _Table) -> NetworkSpec:
    return NetworkSpec(
        isps=_isps(table),
        homes=_homes(table.raw("homes")),
        locality=table.boolean("locality", True),
    )


def _hosts(table: _Table) -> HostsSpec:
    return HostsSpec(
        count=table.integer("count"),
        upload_bps=table.rate("upload_bps") if table.has("upload_bps") else 0,
        download_bps=table.rate("download_bps") if table.has("download_bps") else 0,
        placement_timeout_s=table.number("placement_timeout_s", 300.0),
        origin_backup_hosts=(table.integer("origin_backup_hosts")
                             if table.has("origin_backup_hosts") else None),
    )


def scenario_from_mapping(raw: Mapping[str, Any]) -> Scenario:
    """Build a `Scenario` from parsed TOML; raises `ScenarioError` naming the bad key."""
    top = _Table("", raw, _TOP_KEYS)
    origin_table = top.table("origin", _ORIGIN_KEYS)
    origin = OriginSpec(
        upload_bps=origin_table.rate("upload_bps"),
        super_seed=origin_table.boolean("super_seed", True),
    )
    return Scenario(
        name=top.string("name"),
        description=top.string("description", ""),
        film_mib=top.number("film_mib"),
        seed=top.integer("seed", 1),
        timeout_s=top.number("timeout_s", 600.0),
        origin=origin,
        clients=_clients(top.table("clients", _CLIENTS_KEYS)),
        arrivals=_arrivals(top.table("arrivals", _ARRIVALS_KEYS)),
        events=tuple(_event(t) for t in top.tables("events", _EVENT_KEYS)),
        network=(_network(top.table("network", _NETWORK_KEYS)) if top.has("network")
                 else None),
        hosts=_hosts(top.table("hosts", _HOSTS_KEYS)) if top.has("hosts") else None,
    )


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file.

    Raises `ScenarioError` (message prefixed with the file name) for an unreadable
    file, invalid TOML, an unknown key, a value of the wrong type or range.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"scenario {path} does not exist") from None
    except OSError as e:
        raise ScenarioError(f"scenario {path} cannot be read: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path} is not valid TOML: {e}") from None
    try:
        return scenario_from_mapping(raw)
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e}") from None
