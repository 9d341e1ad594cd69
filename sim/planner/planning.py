"""Running a plan: its workload through the swarm model, and the figures a planner reads.

Pure (numpy). Bytes are 1e9 per GB and 1e12 per TB, rates Gbit/s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.analysis.figures import offload
from sim.planner.config import LinkClass, PlanConfig
from sim.planner.origin_policy import (
    SUPER_SEED_SILENCE_S,
    WARM_START_CAP_SHARE,
    measured_copies_per_session,
    super_seed_rate_share,
)
from sim.planner.swarm_model import SwarmOutcome, run_swarms
from sim.planner.workload import Workload, build_workload, pair_connectivity

__all__ = [
    "CLASS_NAMES",
    "ClassFigures",
    "PlanFigures",
    "PlanResult",
    "RatioPoint",
    "run_plan",
    "upload_demand_ratio",
    "upload_sweep",
]

CLASS_NAMES = ("head", "torso", "tail")


@dataclass(frozen=True)
class ClassFigures:
    """One popularity class of films (head, torso or tail)."""

    name: str
    films: int
    rentals: int
    delivered_tb: float
    cdn_egress_tb: float
    offload: float


@dataclass(frozen=True)
class PlanFigures:
    """The headline figures of a plan."""

    rentals: int
    days: float
    delivered_tb: float
    cdn_egress_tb: float
    offload: float
    peak_origin_gbps: float
    cdn_egress_gb_per_1000_rentals: float
    cost_usd: float
    cost_usd_without_peers: float
    copies_per_session: float
    swarm_sessions: int
    upload_demand_ratio: float
    origin_saturated_hours: float
    """Hours in which the origin's capacity, not the demand, set its rate."""


@dataclass(frozen=True)
class PlanResult:
    """A plan's figures, its hourly series and per-film totals."""

    config: PlanConfig
    figures: PlanFigures
    classes: tuple[ClassFigures, ...]
    hourly_cdn_egress_tb: npt.NDArray[np.float64]
    hourly_peer_tb: npt.NDArray[np.float64]
    hourly_peak_origin_gbps: npt.NDArray[np.float64]
    film_rank_offload: npt.NDArray[np.float64]
    """Offload per film in popularity-rank order (NaN for films nobody rented)."""


def _mean_link(links: tuple[LinkClass, ...]) -> tuple[float, float]:
    w = np.array([link.weight for link in links])
    up = float(np.average([link.upload_mbps for link in links], weights=w))
    down = float(np.average([link.download_mbps for link in links], weights=w))
    return up, down


def upload_demand_ratio(config: PlanConfig) -> float:
    """The upload a rental offers other peers over the bytes it demands (Huang, Li & Ross's
    regime parameter: above 1 the server load is small, below it large).

    Upload that can reach another peer (consent x pair connectivity) over its download
    and its seeding time, against the film it downloads:
    ``u c k (F/d + T_seed) / F`` with mean u, d and F.
    """
    up, down = _mean_link(config.clients.links)
    clients = config.clients
    film_mbit = config.catalogue.film_gb * 8e3
    usable_mbps = up * clients.share_consent * pair_connectivity(clients)
    return usable_mbps * (film_mbit / down + clients.seed_for_h * 3600) / film_mbit


def _hourly(values: npt.NDArray[np.float64], step_s: float, reduce: str) -> npt.NDArray[
        np.float64]:
    hour = (np.arange(values.shape[0]) * step_s // 3600).astype(np.int64)
    hours = int(hour[-1]) + 1 if values.size else 0
    if reduce == "sum":
        return np.bincount(hour, weights=values, minlength=hours).astype(np.float64)
    out = np.zeros(hours)
    np.maximum.at(out, hour, values)
    return out


def _copies(config: PlanConfig) -> float:
    given = config.origin.copies_per_session
    return given if given is not None else measured_copies_per_session()


def _outcome(config: PlanConfig) -> tuple[Workload, SwarmOutcome]:
    work = build_workload(config, _copies(config))
    inputs = work.inputs
    if config.origin.super_seed:
        inputs = dataclasses.replace(
            inputs, warm_start_silence_s=SUPER_SEED_SILENCE_S,
            warm_start_bps=inputs.origin_per_swarm_bps * WARM_START_CAP_SHARE,
            origin_per_swarm_bps=inputs.origin_per_swarm_bps * super_seed_rate_share())
    return work, run_swarms(work.rentals, inputs)


def run_plan(config: PlanConfig) -> PlanResult:
    """Run ``config`` through the model and summarise it."""
    work, out = _outcome(config)
    step_s = config.model.step_s
    origin_total = float(out.origin_bytes_per_film.sum())
    delivered_total = float(out.delivered_bytes_per_film.sum())
    in_plan = work.rentals.arrival_step >= work.inputs.warmup_steps
    n_rentals = int(np.count_nonzero(in_plan))
    price = config.price.usd_per_gb
    gbps = out.origin_bytes_per_step * 8 / step_s / 1e9
    classes = []
    per_film_rentals = np.bincount(work.rentals.film[in_plan],
                                   minlength=work.film_class.shape[0])
    for k, name in enumerate(CLASS_NAMES):
        mask = work.film_class == k
        o = float(out.origin_bytes_per_film[mask].sum())
        d = float(out.delivered_bytes_per_film[mask].sum())
        classes.append(ClassFigures(name=name, films=int(mask.sum()),
                                    rentals=int(per_film_rentals[mask].sum()),
                                    delivered_tb=d / 1e12, cdn_egress_tb=o / 1e12,
                                    offload=offload(round(o), round(d))))
    order = np.argsort(-work.film_weight, kind="stable")
    d_film = out.delivered_bytes_per_film[order]
    o_film = out.origin_bytes_per_film[order]
    rank_offload = np.where(d_film > 0, 1 - o_film / np.where(d_film > 0, d_film, 1), np.nan)
    hourly_peak = _hourly(gbps, step_s, "max")
    saturated = 0
    if config.origin.gbps > 0:
        saturated = int(np.count_nonzero(gbps >= config.origin.gbps * (1 - 1e-9)))
    figures = PlanFigures(
        rentals=n_rentals, days=config.audience.days,
        delivered_tb=delivered_total / 1e12, cdn_egress_tb=origin_total / 1e12,
        offload=offload(round(origin_total), round(delivered_total)),
        peak_origin_gbps=float(gbps.max()) if gbps.size else 0.0,
        cdn_egress_gb_per_1000_rentals=origin_total / 1e9 / n_rentals * 1000 if n_rentals
        else 0.0,
        cost_usd=origin_total / 1e9 * price,
        cost_usd_without_peers=delivered_total / 1e9 * price,
        copies_per_session=_copies(config),
        swarm_sessions=int(out.sessions_per_film.sum()),
        upload_demand_ratio=upload_demand_ratio(config),
        origin_saturated_hours=saturated * step_s / 3600,
    )
    return PlanResult(
        config=config, figures=figures, classes=tuple(classes),
        hourly_cdn_egress_tb=_hourly(out.origin_bytes_per_step, step_s, "sum") / 1e12,
        hourly_peer_tb=_hourly(out.peer_bytes_per_step, step_s, "sum") / 1e12,
        hourly_peak_origin_gbps=hourly_peak, film_rank_offload=rank_offload,
    )


@dataclass(frozen=True)
class RatioPoint:
    """One point of the upload/demand sweep: the server's (CDN's) share of the bytes."""

    upload_demand_ratio: float
    server_share: float
    server_share_head: float
    """The same for the head films alone: swarms with concurrency, where the crossover
    is sharp (the tail's lone rentals cost a copy each whatever the upload)."""


SWEEP_RENTALS = 100_000
"""The sweep runs a scaled-down copy of the plan (same rentals per film, one day)."""


def _sweep_config(config: PlanConfig) -> PlanConfig:
    cat, aud = config.catalogue, config.audience
    days = min(aud.days, 1.0)
    scale = 1.0
    if cat.films_csv is None and aud.rentals_csv is None:
        scale = min(1.0, SWEEP_RENTALS / max(1.0, aud.rentals_per_day * days))
    films = max(1, round(cat.films * scale))
    return dataclasses.replace(
        config,
        catalogue=dataclasses.replace(cat, films=films,
                                      new_releases=min(cat.new_releases, films)),
        audience=dataclasses.replace(aud, days=days,
                                     rentals_per_day=aud.rentals_per_day * scale),
    )


def upload_sweep(config: PlanConfig, ratios: tuple[float, ...] = (
        0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)) -> list[RatioPoint]:
    """The CDN's share of the bytes as every client's upload is scaled so that the
    upload/demand ratio takes each value of ``ratios``: Huang, Li & Ross's crossover."""
    base = _sweep_config(config)
    current = upload_demand_ratio(base)
    if current <= 0:
        return []  # nobody shares: no upload to scale
    points = []
    for ratio in ratios:
        links = tuple(dataclasses.replace(link, upload_mbps=link.upload_mbps * ratio / current)
                      for link in base.clients.links)
        scaled = dataclasses.replace(base, clients=dataclasses.replace(base.clients,
                                                                       links=links))
        work, out = _outcome(scaled)
        o, d = float(out.origin_bytes_per_film.sum()), float(out.delivered_bytes_per_film.sum())
        head = work.film_class == 0
        oh = float(out.origin_bytes_per_film[head].sum())
        dh = float(out.delivered_bytes_per_film[head].sum())
        points.append(RatioPoint(upload_demand_ratio(scaled), o / d if d else math.nan,
                                 oh / dh if dh else math.nan))
    return points
