"""The plan's optional CSV files: a catalogue of films, and a trace of rentals.

Each bad row is refused with `PlanError` naming the file and its line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from sim.planner.errors import PlanError

if TYPE_CHECKING:
    from sim.planner.config import PlanConfig

__all__ = ["FilmRows", "RentalRows"]


def _rows(path: Path, required: tuple[str, ...],
          optional: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            missing = [k for k in required if k not in header]
            if missing:
                raise PlanError(f"{path}: the header needs column {missing[0]!r}")
            unknown = [k for k in header if k not in required + optional]
            if unknown:
                raise PlanError(f"{path}: unknown column {unknown[0]!r}")
            rows = [(reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items()
                                       if k is not None}) for row in reader]
    except OSError as e:
        raise PlanError(f"{path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise PlanError(f"{path}: not a CSV file ({e})") from None
    if not rows:
        raise PlanError(f"{path}: no rows")
    return rows


def _number(path: Path, line: int, key: str, text: str, *, minimum: float = 0.0,
            strict: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlanError(f"{path}:{line}: {key} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        rule = "greater than 0" if strict else f"at least {minimum:g}"
        raise PlanError(f"{path}:{line}: {key} must be {rule}, got {text}")
    return value


@dataclass(frozen=True)
class FilmRows:
    """``film_id,weight[,film_gb][,release_day]``: NaN where a column is absent or empty."""

    film_id: tuple[str, ...]
    weight: npt.NDArray[np.float64]
    film_gb: npt.NDArray[np.float64]
    release_day: npt.NDArray[np.float64]

    @classmethod
    def read(cls, path: Path) -> FilmRows:
        rows = _rows(path, ("film_id", "weight"), ("film_gb", "release_day"))
        ids: list[str] = []
        w, gb, rel = [], [], []
        for line, row in rows:
            if not row["film_id"]:
                raise PlanError(f"{path}:{line}: film_id is empty")
            if row["film_id"] in ids:
                raise PlanError(f"{path}:{line}: duplicate film_id {row['film_id']!r}")
            ids.append(row["film_id"])
            w.append(_number(path, line, "weight", row["weight"]))
            size = row.get("film_gb", "")
            gb.append(_number(path, line, "film_gb", size, strict=True) if size else math.nan)
            day = row.get("release_day", "")
            rel.append(_number(path, line, "release_day", day) if day else math.nan)
        if sum(w) <= 0:
            raise PlanError(f"{path}: every weight is 0")
        return cls(tuple(ids), np.array(w), np.array(gb), np.array(rel))


@dataclass(frozen=True)
class RentalRows:
    """``time_s,film``: seconds from the plan's start, and the film's id or 0-based rank."""

    time_s: npt.NDArray[np.float64]
    film: npt.NDArray[np.int64]

    @classmethod
    def read(cls, path: Path, config: PlanConfig, n_films: int) -> RentalRows:
        ids: dict[str, int] = {}
        if config.catalogue.films_csv is not None:
            films = FilmRows.read(config.catalogue.films_csv)
            ids = {f: i for i, f in enumerate(films.film_id)}
        horizon = config.audience.days * 86400
        times, picks = [], []
        for line, row in _rows(path, ("time_s", "film"), ()):
            t = _number(path, line, "time_s", row["time_s"])
            if t >= horizon:
                raise PlanError(f"{path}:{line}: time_s {t:g} is after the plan's "
                                f"audience.days ({config.audience.days:g})")
            name = row["film"]
            if name in ids:
                pick = ids[name]
            elif not ids and name.isdigit() and int(name) < n_films:
                pick = int(name)
            else:
                raise PlanError(f"{path}:{line}: film {name!r} is not in the catalogue")
            times.append(t)
            picks.append(pick)
        return cls(np.array(times), np.array(picks, dtype=np.int64))
