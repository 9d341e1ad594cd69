"""What the super-seeding origin costs, as measured by the simulator (constants + records).

The measured runs are small JSON records in ``sim/planner/calibration/``; the model's
origin constants come from them (see docs/planner.md, "Calibration"):

- copies per swarm session: the flash crowd's measured origin copies
  (`measured_copies_per_session`);
- the super-seeder's rate share (`super_seed_rate_share`): the share of its upload cap a
  super-seeding origin sends at, fitted to the asymmetric crowd, the one origin-bound
  scenario (BEP 16 hands each peer one piece at a time and waits to see it elsewhere,
  so the origin idles part of the time); stored in ``calibration/fitted.json``;
- `SUPER_SEED_SILENCE_S`: not fitted, libtorrent's own constant.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from sim.planner.errors import PlanError

__all__ = [
    "CALIBRATION_DIR",
    "FALLBACK_COPIES_PER_SESSION",
    "FITTED_FILE",
    "SUPER_SEED_SILENCE_S",
    "WARM_START_CAP_SHARE",
    "MeasuredRun",
    "measured_copies_per_session",
    "super_seed_rate_share",
]

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"

FITTED_FILE = "fitted.json"
"""The constants fitted to the records (written by ``plan --calibrate --rerun``)."""

FALLBACK_RATE_SHARE = 0.69
"""Used only when the fitted file is missing."""

SUPER_SEED_SILENCE_S = 10.0
"""libtorrent 2.1.1 sends nothing on a super-seeded connection for its first 10 s, so the
origin runs a plain "warm start" session beside it until the super-seeder sends, i.e.
until some leecher has been connected 10 s (peernode/operations/origin.py)."""

WARM_START_CAP_SHARE = 0.9
"""While a warm start runs, the origin gives it nine tenths of its upload cap (the
super-seeder, silent anyway, keeps a tenth): peernode/operations/origin.py."""

FALLBACK_COPIES_PER_SESSION = 1.2
"""Used only when the flash crowd's record is missing."""


@dataclass(frozen=True)
class MeasuredRun:
    """A scenario's stored simulator runs; `origin_bytes` is their median."""

    scenario: str
    simulator_commit: str
    backend: str
    seed: int
    film_bytes: int
    clients: int
    origin_bytes_runs: tuple[int, ...]
    delivered_bytes_runs: tuple[int, ...]

    @property
    def origin_bytes(self) -> int:
        return round(statistics.median(self.origin_bytes_runs))

    @classmethod
    def load(cls, path: Path) -> MeasuredRun:
        """Read one record; `PlanError` for a missing or malformed file."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            runs = raw["runs"]
            record = cls(
                scenario=str(raw["scenario"]), simulator_commit=str(raw["simulator_commit"]),
                backend=str(raw["backend"]), seed=int(raw["seed"]),
                film_bytes=int(raw["film_bytes"]), clients=int(raw["clients"]),
                origin_bytes_runs=tuple(int(r["origin_bytes"]) for r in runs),
                delivered_bytes_runs=tuple(int(r["delivered_bytes"]) for r in runs),
            )
        except OSError as e:
            raise PlanError(f"{path}: {e.strerror or e}") from None
        except (ValueError, KeyError, TypeError) as e:
            raise PlanError(f"{path}: not a calibration record ({e!r})") from None
        if not record.origin_bytes_runs or record.film_bytes <= 0:
            raise PlanError(f"{path}: not a calibration record (no runs)")
        return record

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario, "simulator_commit": self.simulator_commit,
            "backend": self.backend, "seed": self.seed, "film_bytes": self.film_bytes,
            "clients": self.clients, "origin_bytes": self.origin_bytes,
            "origin_copies": round(self.origin_bytes / self.film_bytes, 4),
            "runs": [{"origin_bytes": o, "delivered_bytes": d}
                     for o, d in zip(self.origin_bytes_runs, self.delivered_bytes_runs,
                                     strict=True)],
        }

    @classmethod
    def from_reports(cls, reports: list[dict[str, object]], scenario: str,
                     commit: str) -> MeasuredRun:
        """The record of one or more simulator report.json files of ``scenario``."""
        figures = [r.get("figures") for r in reports]
        if not figures or not all(isinstance(f, dict) for f in figures):
            raise PlanError(f"{scenario}: a report.json has no figures")
        first, head = reports[0], figures[0]
        assert isinstance(head, dict)
        return cls(
            scenario=scenario, simulator_commit=commit,
            backend=str(first.get("backend", "local")), seed=int(str(first["seed"])),
            film_bytes=int(head["film_bytes"]), clients=int(head["clients"]),
            origin_bytes_runs=tuple(int(f["origin_bytes"]) for f in figures
                                    if isinstance(f, dict)),
            delivered_bytes_runs=tuple(int(f["delivered_bytes"]) for f in figures
                                       if isinstance(f, dict)),
        )


def measured_copies_per_session(directory: Path = CALIBRATION_DIR) -> float:
    """The flash crowd's measured origin copies: the default origin cost per session."""
    path = directory / "flash-crowd.json"
    if not path.exists():
        return FALLBACK_COPIES_PER_SESSION
    run = MeasuredRun.load(path)
    return max(1.0, run.origin_bytes / run.film_bytes)


def super_seed_rate_share(directory: Path = CALIBRATION_DIR) -> float:
    """The fitted share of its upload cap the super-seeding origin sends at, 0-1."""
    path = directory / FITTED_FILE
    if not path.exists():
        return FALLBACK_RATE_SHARE
    try:
        value = float(json.loads(path.read_text(encoding="utf-8"))["super_seed_rate_share"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PlanError(f"{path}: not a fitted-constants file ({e!r})") from None
    if not 0 < value <= 1:
        raise PlanError(f"{path}: super_seed_rate_share must be in (0, 1], got {value}")
    return value
