"""What a capacity plan describes: frozen dataclasses with units in their field names.

Every value is checked on construction; messages name the PLAN.toml key
(``clients.share_consent``), so they read well for files and for code. Raises `PlanError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from sim.planner.errors import PlanError

__all__ = [
    "ROUTER_KINDS",
    "AudienceSpec",
    "CatalogueSpec",
    "ClientsSpec",
    "LinkClass",
    "ModelSpec",
    "OriginSpec",
    "PlanConfig",
    "PriceSpec",
]

ROUTER_KINDS = ("public", "nat", "nat-upnp", "dual-stack", "v6-only")
"""Home-router kinds of `ClientsSpec.router_mix`; ``nat`` is the one peers cannot dial."""


def check_number(key: str, value: float, *, minimum: float = 0.0, strict: bool = False,
                 maximum: float | None = None) -> None:
    """`PlanError` naming ``key`` unless ``value`` is finite and in range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise PlanError(f"{key} must be a finite number, got {value}")
    if value < minimum or (strict and value == minimum):
        if minimum == 0 and not strict:
            raise PlanError(f"{key} must not be negative, got {value:g}")
        relation = "greater than" if strict else "at least"
        raise PlanError(f"{key} must be {relation} {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise PlanError(f"{key} must be at most {maximum:g}, got {value:g}")


def _share(key: str, value: float) -> None:
    check_number(key, value, maximum=1.0)


@dataclass(frozen=True)
class CatalogueSpec:
    """The films: how many, how big, how popular, and which are released during the plan."""

    films: int
    film_gb: float
    film_gb_sigma: float = 0.0
    """Log-normal spread of film sizes (0: every film is ``film_gb``)."""
    zipf_s: float = 0.8
    films_csv: Path | None = None
    """CSV ``film_id,weight[,film_gb][,release_day]`` replacing films/zipf_s."""
    new_releases: int = 0
    """The most popular films this many are released during the plan, spread over its days."""
    release_boost: float = 0.0
    """Extra popularity on release: weight x (1 + boost x exp(-hours since release / decay))."""
    release_decay_h: float = 48.0
    head_films: int = 100
    torso_films: int = 1000
    """Rank classes: head = top ``head_films``, torso = the next up to ``torso_films``."""

    def __post_init__(self) -> None:
        if self.films_csv is None and (isinstance(self.films, bool) or self.films < 1):
            raise PlanError(f"catalogue.films must be at least 1, got {self.films}")
        check_number("catalogue.film_gb", self.film_gb, strict=True)
        check_number("catalogue.film_gb_sigma", self.film_gb_sigma)
        check_number("catalogue.zipf_s", self.zipf_s)
        check_number("catalogue.new_releases", self.new_releases)
        check_number("catalogue.release_boost", self.release_boost)
        check_number("catalogue.release_decay_h", self.release_decay_h, strict=True)
        check_number("catalogue.head_films", self.head_films, minimum=1)
        check_number("catalogue.torso_films", self.torso_films, minimum=self.head_films)


@dataclass(frozen=True)
class AudienceSpec:
    """Who rents when: a daily volume on an hourly curve, or a CSV trace of rentals."""

    rentals_per_day: float
    days: float = 7.0
    diurnal: tuple[float, ...] = ()
    """24 hourly weights (any scale); empty: flat."""
    rentals_csv: Path | None = None
    """CSV ``time_s,film`` (film: a film_id of films_csv or a 0-based rank)."""

    def __post_init__(self) -> None:
        check_number("audience.rentals_per_day", self.rentals_per_day)
        check_number("audience.days", self.days, strict=True)
        if self.diurnal:
            if len(self.diurnal) != 24:
                raise PlanError(f"audience.diurnal needs 24 hourly weights, got "
                                f"{len(self.diurnal)}")
            for w in self.diurnal:
                check_number("audience.diurnal", w)
            if sum(self.diurnal) <= 0:
                raise PlanError("audience.diurnal weights must not all be 0")


@dataclass(frozen=True)
class LinkClass:
    """One kind of home connection in a weighted mix."""

    name: str
    download_mbps: float
    upload_mbps: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        where = f"clients.links[{self.name!r}]"
        check_number(f"{where}.download_mbps", self.download_mbps, strict=True)
        check_number(f"{where}.upload_mbps", self.upload_mbps)
        check_number(f"{where}.weight", self.weight, strict=True)


@dataclass(frozen=True)
class ClientsSpec:
    """The customers' nodes: links, consent to share, seeding time, reachability, churn."""

    links: tuple[LinkClass, ...]
    share_consent: float = 1.0
    seed_for_h: float = 0.0
    connectable_share: float = 1.0
    router_mix: tuple[tuple[str, float], ...] = ()
    """Shares of `ROUTER_KINDS`; when given it decides connectivity instead."""
    abandon_share: float = 0.0
    """Share of rentals that stop downloading part-way (10-90 %) and never seed."""

    def __post_init__(self) -> None:
        if not self.links:
            raise PlanError("clients needs upload_mbps/download_mbps or [[clients.links]]")
        _share("clients.share_consent", self.share_consent)
        check_number("clients.seed_for_h", self.seed_for_h)
        _share("clients.connectable_share", self.connectable_share)
        _share("clients.abandon_share", self.abandon_share)
        for kind, value in self.router_mix:
            if kind not in ROUTER_KINDS:
                raise PlanError(f"unknown router kind 'clients.router_mix.{kind}' "
                                f"(known: {', '.join(ROUTER_KINDS)})")
            _share(f"clients.router_mix.{kind}", value)
        if self.router_mix and abs(sum(v for _, v in self.router_mix) - 1) > 1e-6:
            raise PlanError("clients.router_mix shares must add up to 1")


@dataclass(frozen=True)
class OriginSpec:
    """The origin (the CDN): total capacity, per-swarm cap, and its measured policy cost."""

    gbps: float
    per_swarm_gbps: float = 0.0
    """0: a swarm may use any share of the capacity."""
    copies_per_session: float | None = None
    """Origin copies per swarm session (>= 1); None: the measured flash-crowd value."""
    super_seed: bool = True
    """The super-seeding origin with its warm start (what the simulator measured)."""

    def __post_init__(self) -> None:
        check_number("origin.gbps", self.gbps)
        check_number("origin.per_swarm_gbps", self.per_swarm_gbps)
        if self.copies_per_session is not None:
            check_number("origin.copies_per_session", self.copies_per_session, minimum=1.0)


@dataclass(frozen=True)
class PriceSpec:
    """What the CDN bills."""

    usd_per_gb: float = 0.0

    def __post_init__(self) -> None:
        check_number("price.usd_per_gb", self.usd_per_gb)


@dataclass(frozen=True)
class ModelSpec:
    """How the model runs: time step, random seed, and optional pre-positioning."""

    step_s: float = 60.0
    seed: int = 1
    prepositioned_hosts: int = 0
    """Hosts per newly released film that hold it before release."""
    preposition_h: float = 24.0
    """Hours before release the hosts start seeding (they seed until release + seed_for_h)."""
    warmup_h: float = 12.0
    """Hours of drawn rentals run before the plan starts and left out of the figures, so
    the plan does not begin with every swarm empty (not used with a rentals trace)."""

    def __post_init__(self) -> None:
        check_number("model.step_s", self.step_s, strict=True)
        check_number("model.seed", self.seed)
        check_number("model.prepositioned_hosts", self.prepositioned_hosts)
        check_number("model.preposition_h", self.preposition_h)
        check_number("model.warmup_h", self.warmup_h)


@dataclass(frozen=True)
class PlanConfig:
    """A whole capacity plan."""

    catalogue: CatalogueSpec
    audience: AudienceSpec
    clients: ClientsSpec
    origin: OriginSpec
    price: PriceSpec = field(default_factory=PriceSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
