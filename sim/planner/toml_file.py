"""PLAN.toml into a `PlanConfig`, refusing unknown keys; and the documented example.

Every error is one `PlanError` line naming the key. CSV paths are relative to the
plan file's directory.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.planner.config import (
    AudienceSpec,
    CatalogueSpec,
    ClientsSpec,
    LinkClass,
    ModelSpec,
    OriginSpec,
    PlanConfig,
    PriceSpec,
)
from sim.planner.errors import PlanError

__all__ = ["DIURNAL_PRESETS", "EXAMPLE_PLAN", "load_plan", "plan_from_mapping"]

DIURNAL_PRESETS: dict[str, tuple[float, ...]] = {
    "flat": (1.0,) * 24,
    # Rentals by hour of day for a European evening audience: a trough at 4-6 h,
    # a lunchtime shoulder and a peak at 20-22 h four times the day's mean.
    "evening": (1.2, 0.7, 0.4, 0.25, 0.2, 0.2, 0.25, 0.35, 0.45, 0.5, 0.55, 0.65,
                0.75, 0.75, 0.7, 0.7, 0.8, 1.0, 1.4, 2.1, 3.2, 3.6, 3.0, 2.0),
}

EXAMPLE_PLAN = """\
# A capacity plan for `peernode plan PLAN.toml --out REPORT_DIR`.
# Rates in Mbit/s (clients) and Gbit/s (origin), sizes in GB (1e9 bytes).

[catalogue]
films = 10000            # films in the catalogue (or films_csv = "films.csv":
                         #   columns film_id,weight[,film_gb][,release_day])
film_gb = 4.0            # mean size of a film as delivered (encrypted container)
film_gb_sigma = 0.3      # log-normal spread of sizes (0 = all the same)
zipf_s = 0.8             # popularity of rank r ~ r^-s
new_releases = 7         # the top films premiere during the plan, one after another
release_boost = 4.0      # premiere-day popularity x (1 + boost) ...
release_decay_h = 48     # ... decaying with this time constant
head_films = 100         # report classes: head = top 100, torso = up to rank 1000, tail
torso_films = 1000

[audience]
rentals_per_day = 1000000
days = 7
diurnal = "evening"      # "flat", "evening", or 24 hourly weights
# rentals_csv = "rentals.csv"   # instead: a trace, columns time_s,film

[clients]
download_mbps = 100      # one link for everyone, or a mix:
upload_mbps = 20
# [[clients.links]]  name = "fibre"  weight = 3  download_mbps = 500  upload_mbps = 100
share_consent = 0.7      # share of customers who agree to share
seed_for_h = 2           # hours a consenting customer seeds after the download
connectable_share = 0.6  # reachable from the internet (public address, UPnP, IPv6)
# [clients.router_mix]   # instead of connectable_share, shares adding up to 1:
# public = 0.1  nat = 0.3  nat-upnp = 0.4  dual-stack = 0.15  v6-only = 0.05
abandon_share = 0.05     # rentals that stop part-way and never seed

[origin]
gbps = 400               # the CDN's capacity for this service
per_swarm_gbps = 0       # cap per film swarm (0 = none)
# copies_per_session = 1.19  # origin copies per swarm session (default: measured)
super_seed = true        # the super-seeding origin with its warm start

[price]
usd_per_gb = 0.02

[model]
step_s = 60              # time step
seed = 1
prepositioned_hosts = 0  # hosts per premiere holding it before release
preposition_h = 24       # ... from this many hours before
warmup_h = 12            # rentals run before the plan starts, so swarms are not all empty
"""

_KEYS = {
    "": ("catalogue", "audience", "clients", "origin", "price", "model"),
    "catalogue": ("films", "film_gb", "film_gb_sigma", "zipf_s", "films_csv", "new_releases",
                  "release_boost", "release_decay_h", "head_films", "torso_films"),
    "audience": ("rentals_per_day", "days", "diurnal", "rentals_csv"),
    "clients": ("upload_mbps", "download_mbps", "links", "share_consent", "seed_for_h",
                "connectable_share", "router_mix", "abandon_share"),
    "clients.links": ("name", "weight", "download_mbps", "upload_mbps"),
    "origin": ("gbps", "per_swarm_gbps", "copies_per_session", "super_seed"),
    "price": ("usd_per_gb",),
    "model": ("step_s", "seed", "prepositioned_hosts", "preposition_h", "warmup_h"),
}
_REQUIRED = {
    "": ("catalogue", "audience", "clients", "origin"),
    "catalogue": ("film_gb",),
    "audience": ("days",),
    "origin": ("gbps",),
}


def _table(where: str, raw: object, kind: str | None = None) -> dict[str, Any]:
    kind = where if kind is None else kind
    if not isinstance(raw, Mapping):
        raise PlanError(f"{where or 'the file'} must be a table")
    known = _KEYS[kind]
    for key in raw:
        if key not in known:
            name = f"{where}.{key}" if where else key
            raise PlanError(f"unknown key {name!r} (known here: {', '.join(known)})")
    for key in _REQUIRED.get(kind, ()):
        if key not in raw:
            raise PlanError(f"missing key {(where + '.' if where else '') + key!r}")
    return dict(raw)


def _number(where: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{where}.{key} must be a number, got {value!r}")
    return float(value)


def _integer(where: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{where}.{key} must be an integer, got {value!r}")
    return value


def _numbers(t: dict[str, Any], where: str, *keys: str) -> dict[str, float]:
    return {k: _number(where, k, t[k]) for k in keys if k in t}


def _path(base: Path, where: str, key: str, value: object) -> Path:
    if not isinstance(value, str) or not value:
        raise PlanError(f"{where}.{key} must be a file name, got {value!r}")
    return base / value


def _diurnal(value: object) -> tuple[float, ...]:
    if isinstance(value, str):
        if value not in DIURNAL_PRESETS:
            raise PlanError(f"audience.diurnal: unknown preset {value!r} "
                            f"(known: {', '.join(DIURNAL_PRESETS)})")
        return DIURNAL_PRESETS[value]
    if not isinstance(value, list):
        raise PlanError("audience.diurnal must be a preset name or 24 hourly weights")
    return tuple(_number("audience", "diurnal", v) for v in value)


def _clients(raw: object) -> ClientsSpec:
    t = _table("clients", raw)
    if "links" in t:
        if "upload_mbps" in t or "download_mbps" in t:
            raise PlanError("clients: give upload_mbps/download_mbps or [[clients.links]], "
                            "not both")
        if not isinstance(t["links"], list) or not t["links"]:
            raise PlanError("clients.links must be a non-empty array of tables")
        links = []
        for i, item in enumerate(t["links"]):
            lt = _table(f"clients.links[{i}]", item, "clients.links")
            for key in ("download_mbps", "upload_mbps"):
                if key not in lt:
                    raise PlanError(f"missing key 'clients.links[{i}].{key}'")
            name = lt.get("name", f"link-{i + 1}")
            if not isinstance(name, str):
                raise PlanError(f"clients.links[{i}].name must be a string")
            links.append(LinkClass(name=name, **_numbers(lt, f"clients.links[{i}]",
                                                         "download_mbps", "upload_mbps",
                                                         "weight")))
    else:
        for key in ("download_mbps", "upload_mbps"):
            if key not in t:
                raise PlanError(f"missing key 'clients.{key}' (or give [[clients.links]])")
        links = [LinkClass("all", **_numbers(t, "clients", "download_mbps", "upload_mbps"))]
    mix: tuple[tuple[str, float], ...] = ()
    if "router_mix" in t:
        if not isinstance(t["router_mix"], Mapping):
            raise PlanError("clients.router_mix must be a table of shares")
        mix = tuple((str(k), _number("clients.router_mix", str(k), v))
                    for k, v in t["router_mix"].items())
    return ClientsSpec(links=tuple(links), router_mix=mix,
                       **_numbers(t, "clients", "share_consent", "seed_for_h",
                                  "connectable_share", "abandon_share"))


def plan_from_mapping(raw: Mapping[str, Any], base: Path = Path()) -> PlanConfig:
    """A `PlanConfig` from parsed TOML; CSV paths relative to ``base``. Raises `PlanError`."""
    top = _table("", raw)
    cat = _table("catalogue", top["catalogue"])
    films_csv = _path(base, "catalogue", "films_csv", cat["films_csv"]) \
        if "films_csv" in cat else None
    if films_csv is None and "films" not in cat:
        raise PlanError("missing key 'catalogue.films' (or give catalogue.films_csv)")
    catalogue = CatalogueSpec(
        films=_integer("catalogue", "films", cat.get("films", 1)), films_csv=films_csv,
        new_releases=_integer("catalogue", "new_releases", cat.get("new_releases", 0)),
        head_films=_integer("catalogue", "head_films", cat.get("head_films", 100)),
        torso_films=_integer("catalogue", "torso_films", cat.get("torso_films", 1000)),
        **_numbers(cat, "catalogue", "film_gb", "film_gb_sigma", "zipf_s", "release_boost",
                   "release_decay_h"),
    )
    aud = _table("audience", top["audience"])
    rentals_csv = _path(base, "audience", "rentals_csv", aud["rentals_csv"]) \
        if "rentals_csv" in aud else None
    if rentals_csv is None and "rentals_per_day" not in aud:
        raise PlanError("missing key 'audience.rentals_per_day' (or give audience.rentals_csv)")
    audience = AudienceSpec(
        rentals_per_day=_number("audience", "rentals_per_day", aud.get("rentals_per_day", 0)),
        days=_number("audience", "days", aud["days"]),
        diurnal=_diurnal(aud["diurnal"]) if "diurnal" in aud else (),
        rentals_csv=rentals_csv,
    )
    org = _table("origin", top["origin"])
    super_seed = org.get("super_seed", True)
    if not isinstance(super_seed, bool):
        raise PlanError(f"origin.super_seed must be true or false, got {super_seed!r}")
    origin = OriginSpec(super_seed=super_seed,
                        **_numbers(org, "origin", "gbps", "per_swarm_gbps",
                                   "copies_per_session"))
    price = PriceSpec(**_numbers(_table("price", top.get("price", {})), "price", "usd_per_gb"))
    mod = _table("model", top.get("model", {}))
    model = ModelSpec(
        seed=_integer("model", "seed", mod.get("seed", 1)),
        prepositioned_hosts=_integer("model", "prepositioned_hosts",
                                     mod.get("prepositioned_hosts", 0)),
        **_numbers(mod, "model", "step_s", "preposition_h", "warmup_h"),
    )
    return PlanConfig(catalogue=catalogue, audience=audience, clients=_clients(top["clients"]),
                      origin=origin, price=price, model=model)


def load_plan(path: Path) -> PlanConfig:
    """Read and check a PLAN.toml; `PlanError` prefixed with the file name."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PlanError(f"{path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise PlanError(f"{path}: not valid TOML ({e})") from None
    try:
        return plan_from_mapping(raw, path.parent)
    except PlanError as e:
        raise PlanError(f"{path}: {e}") from None
