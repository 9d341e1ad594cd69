"""A plan's catalogue and audience as the model's inputs: films, and every rental drawn.

Pure: numpy and a seed; the same plan always gives the same rentals. Random draws are
made in a fixed order and for every rental whatever the shares are (common random
numbers), so raising ``share_consent`` turns more of the *same* rentals into sharers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.planner.config import ClientsSpec, PlanConfig
from sim.planner.errors import PlanError
from sim.planner.rows import FilmRows, RentalRows
from sim.planner.swarm_model import Rentals, SwarmInputs

__all__ = ["ABANDON_PROGRESS", "Workload", "build_workload", "pair_connectivity"]

GB = 1e9
ABANDON_PROGRESS = (0.1, 0.9)
"""An abandoning rental stops somewhere in the middle, as `sim.scenario.plan` churn does."""

_V4 = {"public", "nat", "nat-upnp", "dual-stack"}
_V4_REACHABLE = {"public", "nat-upnp", "dual-stack"}
_V6 = {"dual-stack", "v6-only"}


def _can_connect(a: str, b: str) -> bool:
    # Over IPv4 one side must accept connections; over IPv6 (no NAT) any two can.
    v4 = a in _V4 and b in _V4 and (a in _V4_REACHABLE or b in _V4_REACHABLE)
    return v4 or (a in _V6 and b in _V6)


def pair_connectivity(clients: ClientsSpec) -> float:
    """The share of peer pairs that can open a connection, 0-1.

    From ``router_mix`` when given, else two peers connect unless both are not
    connectable: ``1 - (1 - connectable_share)^2``.
    """
    if clients.router_mix:
        mix = dict(clients.router_mix)
        return sum(sa * sb * _can_connect(a, b) for a, sa in mix.items() for b, sb in mix.items())
    return 1 - (1 - clients.connectable_share) ** 2


@dataclass(frozen=True)
class Workload:
    """The model's inputs for one plan, plus what the report needs to label films."""

    rentals: Rentals
    inputs: SwarmInputs
    film_weight: npt.NDArray[np.float64]
    """Popularity weight per film (rank order for a Zipf catalogue)."""
    film_class: npt.NDArray[np.int64]
    """0 head, 1 torso, 2 tail, by popularity rank."""


def _films(config: PlanConfig, rng: np.random.Generator, steps: int,
           step_s: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                                   npt.NDArray[np.float64]]:
    """Weights, sizes (bytes) and release step (may be negative: released before) per film."""
    cat = config.catalogue
    if cat.films_csv is not None:
        rows = FilmRows.read(cat.films_csv)
        weights = rows.weight
        sizes = np.where(np.isnan(rows.film_gb), cat.film_gb, rows.film_gb) * GB
        release = np.where(np.isnan(rows.release_day), -math.inf,
                           rows.release_day * 86400 / step_s)
        return weights, sizes, release
    ranks = np.arange(1, cat.films + 1, dtype=np.float64)
    weights = ranks ** -cat.zipf_s
    sigma = cat.film_gb_sigma
    # Mean-preserving log-normal spread of sizes.
    sizes = cat.film_gb * GB * np.exp(rng.normal(-sigma**2 / 2, sigma, cat.films)) if sigma \
        else np.full(cat.films, cat.film_gb * GB)
    release = np.full(cat.films, -math.inf)
    k = min(int(cat.new_releases), cat.films)
    if k:
        release[:k] = (np.arange(k) + 0.5) / k * steps
    return weights, sizes, release


def _weights_at(weights: npt.NDArray[np.float64], release: npt.NDArray[np.float64],
                step: float, step_s: float, config: PlanConfig) -> npt.NDArray[np.float64]:
    cat = config.catalogue
    age_h = (step - release) * step_s / 3600
    boost = 1 + cat.release_boost * np.exp(-np.clip(age_h, 0, None) / cat.release_decay_h)
    return np.where(age_h >= 0, weights * boost, 0.0)


def _draw_rentals(config: PlanConfig, rng: np.random.Generator, weights: npt.NDArray[np.float64],
                  release: npt.NDArray[np.float64], steps: int, step_s: float,
                  warmup: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(film, arrival step) of every rental, sorted by step; the plan's hour 0 is step
    ``warmup``."""
    aud = config.audience
    diurnal = np.asarray(aud.diurnal or (1.0,) * 24, dtype=np.float64)
    hour_of_step = (((np.arange(steps) - warmup) * step_s) // 3600 % 24).astype(np.int64)
    step_rate = diurnal[hour_of_step] / diurnal.mean() * aud.rentals_per_day * step_s / 86400
    counts = rng.poisson(step_rate)
    arrival = np.repeat(np.arange(steps, dtype=np.int64), counts)
    film = np.empty(arrival.shape[0], np.int64)
    # Popularity changes with releases: draw films hour by hour from that hour's weights.
    block = max(1, round(3600 / step_s)) if np.isfinite(release).any() else steps
    bounds = np.searchsorted(arrival, np.arange(0, steps + block, block))
    for b in range(len(bounds) - 1):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        if hi <= lo:
            continue
        w = _weights_at(weights, release, b * block + block / 2, step_s, config)
        total = w.sum()
        if total <= 0:
            raise PlanError("audience: rentals fall before any film is released")
        film[lo:hi] = np.searchsorted(np.cumsum(w / total), rng.random(hi - lo), side="right")
    np.minimum(film, weights.shape[0] - 1, out=film)
    return film, arrival


def build_workload(config: PlanConfig, copies_per_session: float) -> Workload:
    """Draw every rental of ``config`` and assemble the model's inputs.

    Raises `PlanError` for a CSV with a bad row or a trace outside the plan's days.
    """
    rng = np.random.default_rng(config.model.seed)
    step_s = config.model.step_s
    plan_steps = max(1, math.ceil(config.audience.days * 86400 / step_s))
    weights, sizes, release = _films(config, rng, plan_steps, step_s)
    n_films = weights.shape[0]
    if config.audience.rentals_csv is not None:
        warmup = 0
        trace = RentalRows.read(config.audience.rentals_csv, config, n_films)
        order = np.argsort(trace.time_s, kind="stable")
        film = trace.film[order]
        arrival = (trace.time_s[order] // step_s).astype(np.int64)
    else:
        warmup = round(config.model.warmup_h * 3600 / step_s)
        release = release + warmup
        film, arrival = _draw_rentals(config, rng, weights, release, warmup + plan_steps,
                                      step_s, warmup)
    steps = warmup + plan_steps
    n = film.shape[0]
    links = config.clients.links
    link_w = np.array([link.weight for link in links])
    link_of = np.searchsorted(np.cumsum(link_w / link_w.sum()), rng.random(n), side="right")
    link_of = np.minimum(link_of, len(links) - 1)
    down = np.array([link.download_mbps for link in links])[link_of] * 1e6 / 8
    up = np.array([link.upload_mbps for link in links])[link_of] * 1e6 / 8
    consent_draw = rng.random(n)
    abandon_draw = rng.random(n)
    abandon_at = rng.uniform(*ABANDON_PROGRESS, n)
    clients = config.clients
    shares = consent_draw < clients.share_consent
    abandons = abandon_draw < clients.abandon_share
    target = sizes[film] * np.where(abandons, abandon_at, 1.0)
    seed_steps = round(clients.seed_for_h * 3600 / step_s)
    rentals = Rentals(
        film=film, arrival_step=arrival, download_bps=down,
        upload_bps=np.where(shares, up, 0.0), target_bytes=target,
        seed_steps=np.where(shares & ~abandons, seed_steps, 0).astype(np.int64),
    )
    pre_hosts = int(config.model.prepositioned_hosts)
    prepositioned = None
    pre_step = None
    if pre_hosts:
        released_in_plan = np.isfinite(release) & (release >= warmup)
        prepositioned = np.where(released_in_plan, pre_hosts, 0).astype(np.int64)
        lead = config.model.preposition_h * 3600 / step_s
        pre_step = np.clip(np.where(released_in_plan, release - lead, 0), 0, steps - 1
                           ).astype(np.int64)
    mean_up = float(np.average([link.upload_mbps for link in links], weights=link_w)) * 1e6 / 8
    inputs = SwarmInputs(
        film_bytes=sizes, step_s=step_s, steps=steps,
        origin_capacity_bps=config.origin.gbps * 1e9 / 8,
        origin_per_swarm_bps=config.origin.per_swarm_gbps * 1e9 / 8,
        copies_per_session=copies_per_session,
        pair_connectivity=pair_connectivity(clients),
        prepositioned_seeds=prepositioned, preposition_step=pre_step,
        preposition_upload_bps=mean_up,
        preposition_seed_steps=round((config.model.preposition_h + clients.seed_for_h)
                                     * 3600 / step_s),
        warmup_steps=warmup,
    )
    order = np.argsort(-weights, kind="stable")
    rank = np.empty(n_films, np.int64)
    rank[order] = np.arange(n_films)
    cat = config.catalogue
    film_class = np.where(rank < cat.head_films, 0, np.where(rank < cat.torso_films, 1, 2))
    return Workload(rentals=rentals, inputs=inputs, film_weight=weights,
                    film_class=film_class.astype(np.int64))
