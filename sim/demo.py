"""`peernode demo` as a built-in scenario: the whole system on loopback, with a throwaway CA.

The scenario ``sim/scenarios/demo.toml`` (package data) sized by the demo's flags
is planned on the demo's addresses (`DEMO_POOL`: tracker 127.0.0.1, origin
127.0.0.2, clients 127.0.0.10 onwards), its clients arriving `ARRIVAL_GAP_S`
apart, and run by the simulation driver on the local backend. Then every client's
film is checked to decrypt to the original (by the caller's ``verify``: decrypting
is the node's business, not the simulator's), and `DemoReport` says where each
client's bytes came from and the swarm's CDN offload next to its limit 1 - 1/N:
measured at the origin (its own byte counts, read before teardown), with the
clients' attribution and the gap between the two beside it.
"""

from __future__ import annotations

import dataclasses
import random
import sys
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TextIO, TypeVar

import trio

from sim.analysis.figures import attribution_gap, offload, origin_copies
from sim.analysis.outcomes import Fate
from sim.backends.local import LocalSwarm, open_local_swarm
from sim.backends.provision import ClientFiles, OperatorFiles, write_synthetic_film
from sim.driver import drive_swarm
from sim.errors import SimError
from sim.live_progress import SwarmSnapshot
from sim.scenario.addresses import AddressPool
from sim.scenario.model import MIB, OriginSpec, Scenario
from sim.scenario.plan import SwarmPlan, plan_swarm
from sim.scenario.toml_file import scenario_from_mapping

__all__ = ["ARRIVAL_GAP_S", "DEMO_POOL", "ClientResult", "DemoConfig", "DemoReport",
           "Verify", "demo_plan", "demo_scenario", "run_demo"]

FILM_ID = "demo-film"
_T = TypeVar("_T")
ARRIVAL_GAP_S = 1.0
MAX_CLIENTS = 200
PROGRESS_EVERY_S = 2.0

Verify = Callable[[OperatorFiles, ClientFiles, str], bool]
"""Whether a client's downloaded film (in ``ClientFiles``, of film id ``str``) decrypts
to the operator's original; blocking (run in a worker thread)."""


@dataclass(frozen=True)
class _DemoAddresses(AddressPool):
    """Clients on 127.0.0.10, .11, ... (the demo's addresses since its first version)."""

    first_client: int = 10

    @property
    def capacity(self) -> int:
        return MAX_CLIENTS

    def client_address(self, index: int) -> str:
        if not 0 <= index < self.capacity:
            raise SimError(f"client {index + 1} has no address: the demo holds "
                           f"{self.capacity} clients")
        return f"127.0.0.{self.first_client + index}"


DEMO_POOL: AddressPool = _DemoAddresses(
    tracker_host="127.0.0.1", origin_host="127.0.0.2", client_network="127.0.0.0/24")


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs. Rates in bytes/s (applied to loopback peers too); ``None``
    keeps the scenario file's value."""

    clients: int = 4
    film: Path | None = None
    size_mb: float = 32.0
    origin_upload_bps: int | None = None
    origin_super_seed: bool | None = None
    client_upload_bps: int | None = None
    client_download_bps: int | None = None
    stagger_s: float = ARRIVAL_GAP_S
    timeout_s: float | None = None
    workdir: Path | None = None


@dataclass(frozen=True)
class ClientResult:
    name: str
    address: str
    seconds: float
    bytes_from_origin: int
    bytes_from_peers: int
    bytes_uploaded: int
    decrypted_ok: bool


@dataclass(frozen=True)
class DemoReport:
    """``origin_bytes_measured``: what the origin says it sent (None if unread);
    ``origin_bytes`` is what the clients attribute to it."""

    film_bytes: int
    clients: list[ClientResult] = field(default_factory=list)
    origin_bytes_measured: int | None = None

    @property
    def origin_bytes(self) -> int:
        return sum(c.bytes_from_origin for c in self.clients)

    @property
    def delivered_bytes(self) -> int:
        return sum(c.bytes_from_origin + c.bytes_from_peers for c in self.clients)

    @property
    def offload(self) -> float:
        """1 - origin bytes / bytes delivered: the share the CDN did not bill (measured
        at the origin when it was, else as the clients attribute it)."""
        origin = self.origin_bytes_measured
        return offload(self.origin_bytes if origin is None else origin, self.delivered_bytes)

    @property
    def origin_copies(self) -> float:
        """Copies of the film the origin sent (measured when it was)."""
        origin = self.origin_bytes_measured
        return origin_copies(self.origin_bytes if origin is None else origin, self.film_bytes)

    @property
    def offload_limit(self) -> float:
        """With N clients the origin must send at least one copy: 1 - 1/N."""
        return 1 - 1 / len(self.clients) if self.clients else 0.0

    @property
    def ok(self) -> bool:
        return bool(self.clients) and all(c.decrypted_ok for c in self.clients)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "film_bytes": self.film_bytes,
            "clients": [dataclasses.asdict(c) for c in self.clients],
            "origin_bytes": self.origin_bytes,
            "delivered_bytes": self.delivered_bytes,
            "origin_copies": self.origin_copies,
            "offload": self.offload,
            "offload_limit": self.offload_limit,
            **self._measured_json(),
        }

    def _measured_json(self) -> dict[str, object]:
        measured = self.origin_bytes_measured
        return {
            "origin_bytes_measured": measured,
            "origin_copies_measured": (
                None if measured is None else origin_copies(measured, self.film_bytes)),
            "offload_measured": (
                None if measured is None else offload(measured, self.delivered_bytes)),
            "origin_copies_attributed": origin_copies(self.origin_bytes, self.film_bytes),
            "attribution_gap": (
                None if measured is None else attribution_gap(self.origin_bytes, measured)),
        }


def demo_scenario(cfg: DemoConfig, film_bytes: int) -> Scenario:
    """The built-in ``demo.toml`` with ``cfg``'s clients, film size and overrides."""
    text = resources.files("sim").joinpath("scenarios/demo.toml").read_text(encoding="utf-8")
    base = scenario_from_mapping(tomllib.loads(text))
    origin = OriginSpec(
        upload_bps=_given(cfg.origin_upload_bps, base.origin.upload_bps),
        super_seed=_given(cfg.origin_super_seed, base.origin.super_seed))
    links = tuple(dataclasses.replace(
        link, upload_bps=_given(cfg.client_upload_bps, link.upload_bps),
        download_bps=_given(cfg.client_download_bps, link.download_bps),
    ) for link in base.clients.links)
    return dataclasses.replace(
        base, film_mib=film_bytes / MIB, origin=origin,
        clients=dataclasses.replace(base.clients, count=cfg.clients, links=links),
        timeout_s=base.timeout_s if cfg.timeout_s is None else cfg.timeout_s,
    )


def _given(value: _T | None, default: _T) -> _T:
    return default if value is None else value


def demo_plan(scenario: Scenario, gap_s: float = ARRIVAL_GAP_S) -> SwarmPlan:
    """``scenario`` planned on `DEMO_POOL`, client ``i`` (0-based) arriving at ``i * gap_s``."""
    plan = plan_swarm(scenario, DEMO_POOL, random.Random(scenario.seed))  # noqa: S311
    clients = tuple(dataclasses.replace(c, arrival_s=i * gap_s)
                    for i, c in enumerate(plan.clients))
    return dataclasses.replace(plan, clients=clients)


async def run_demo(cfg: DemoConfig, verify: Verify, *, out: TextIO = sys.stderr) -> DemoReport:
    """Run the demo in ``cfg.workdir`` (or a temporary directory) and return its report;
    progress lines go to ``out``. `SimError` for a bad configuration, a node that does
    not start, a client that fails or does not finish within the timeout."""
    if not 1 <= cfg.clients <= MAX_CLIENTS:
        raise SimError(f"--clients must be between 1 and {MAX_CLIENTS}")
    if cfg.film is not None and not cfg.film.is_file():
        raise SimError(f"film {cfg.film} does not exist")
    if cfg.workdir is not None:
        cfg.workdir.mkdir(parents=True, exist_ok=True)
        return await _run(cfg, cfg.workdir, verify, out)
    with tempfile.TemporaryDirectory(prefix="peernode-demo-") as tmp:
        return await _run(cfg, Path(tmp), verify, out)


async def _run(cfg: DemoConfig, work: Path, verify: Verify, out: TextIO) -> DemoReport:
    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    film = cfg.film
    if film is None:
        film = work / "film.mp4"
        size = int(cfg.size_mb * 1_000_000)
        await trio.to_thread.run_sync(write_synthetic_film, film, size)
    film_bytes = film.stat().st_size
    plan = demo_plan(demo_scenario(cfg, film_bytes), cfg.stagger_s)
    say(f"packaging {film.name} ({film_bytes / 1e6:.1f} MB) ...")
    async with open_local_swarm(plan, work, film=film, film_id=FILM_ID, say=say) as swarm:
        record = await drive_swarm(swarm, plan, show=_progress_lines(swarm, plan, say))
        measured = await swarm.measure()  # while the origin still runs
    failed = [name for name, fate in record.fates.items() if fate is Fate.FAILED]
    if failed:
        raise SimError(f"{', '.join(failed)} exited early; see its client.log")
    if record.timed_out:
        raise SimError(f"clients not complete after {plan.scenario.timeout_s:.0f} s")
    seen = await swarm.collect()
    operator = swarm.files.operator
    results = []
    for client in plan.clients:
        files = swarm.files.clients[client.name]
        summary = seen[client.name].summary
        if summary is None:
            raise SimError(f"{client.name} printed no summary; see {files.log}")
        ok = await trio.to_thread.run_sync(verify, operator, files, FILM_ID)
        results.append(ClientResult(
            name=client.name, address=client.address, seconds=_number(summary, "seconds"),
            bytes_from_origin=int(_number(summary, "bytes_from_origin")),
            bytes_from_peers=int(_number(summary, "bytes_from_peers")),
            bytes_uploaded=int(_number(summary, "bytes_uploaded")), decrypted_ok=ok,
        ))
    return DemoReport(film_bytes=operator.film_bytes, clients=results,
                      origin_bytes_measured=measured.origin_bytes_measured)


def _number(summary: Mapping[str, object], key: str) -> float:
    value = summary.get(key)
    if not isinstance(value, int | float):
        raise SimError(f"a client's summary has no number {key!r}: {dict(summary)}")
    return float(value)


def _progress_lines(swarm: LocalSwarm, plan: SwarmPlan, say: Callable[[str], None]
                    ) -> Callable[[SwarmSnapshot], None]:
    """A `drive_swarm` display: every client's progress on one line every few seconds."""
    last: list[float] = []

    def show(now: SwarmSnapshot) -> None:
        if last and now.elapsed_s - last[0] < PROGRESS_EVERY_S:
            return
        seen = [(c.name, swarm.observe(c)) for c in plan.clients]
        started = [(name, o) for name, o in seen if o.started_unix is not None]
        if started:
            last[:] = [now.elapsed_s]
            say("  ".join(f"{name} {o.progress * 100:5.1f}%" for name, o in started))

    return show
