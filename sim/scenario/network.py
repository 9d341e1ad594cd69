"""A scenario's homes and ISPs (pure): the ``[network]`` part of a scenario file.

Every client lives in its own home behind a router of some `HomeKind`; kinds are given
as shares of the clients, and homes are grouped into ISPs (the networks the tracker's
locality rule keeps traffic inside). Planning (`sim.scenario.plan`) turns the shares
into exact counts and gives each client its `HomePlan`. Messages name the TOML key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.errors import ScenarioError
from sim.scenario.homes import HomeKind

__all__ = ["SHARE_TOLERANCE", "HomeShare", "IspSpec", "NetworkSpec"]

SHARE_TOLERANCE = 1e-6
"""How far the router kinds' shares may be from adding up to 1."""


@dataclass(frozen=True)
class IspSpec:
    """One ISP; ``weight`` is its share of the homes (any positive scale)."""

    name: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ScenarioError("network.isps: every ISP needs a non-empty name")
        if not math.isfinite(self.weight) or self.weight <= 0:
            raise ScenarioError(
                f"network.isps: the weight of ISP {self.name!r} must be a finite number "
                f"greater than 0, got {self.weight:g}"
            )


@dataclass(frozen=True)
class HomeShare:
    """The share of the clients whose home router is of ``kind`` (0 to 1)."""

    kind: HomeKind
    share: float

    def __post_init__(self) -> None:
        key = f"network.homes.{self.kind.value}"
        if not math.isfinite(self.share):
            raise ScenarioError(f"{key} must be a finite number, got {self.share}")
        if self.share < 0:
            raise ScenarioError(f"{key} must not be negative, got {self.share:g}")


@dataclass(frozen=True)
class NetworkSpec:
    """Homes and ISPs: router kinds as shares of the clients, ISPs, and whether the
    tracker prefers peers of the same ISP (``locality``)."""

    isps: tuple[IspSpec, ...]
    homes: tuple[HomeShare, ...]
    locality: bool = True

    def __post_init__(self) -> None:
        if not self.isps:
            raise ScenarioError("network.isps: at least one ISP is needed")
        names = [isp.name for isp in self.isps]
        duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if duplicate is not None:
            raise ScenarioError(f"network.isps: duplicate ISP name {duplicate!r}")
        if not self.homes:
            raise ScenarioError("network.homes: give at least one router kind and its share")
        kinds = [h.kind for h in self.homes]
        if len(set(kinds)) != len(kinds):
            raise ScenarioError("network.homes: a router kind is given twice")
        total = math.fsum(h.share for h in self.homes)
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ScenarioError(f"network.homes: the shares add up to {total:g}, not 1")

    @property
    def shares(self) -> dict[HomeKind, float]:
        """Router kind -> share, in the order given."""
        return {h.kind: h.share for h in self.homes}

    def to_json(self) -> dict[str, object]:
        return {
            "isps": [{"name": isp.name, "weight": isp.weight} for isp in self.isps],
            "homes": {h.kind.value: h.share for h in self.homes},
            "locality": self.locality,
        }
