"""The driver on trio's MockClock: arrivals and events happen at their planned times,
churners quit at their point, fates are right, the timeout ends the run.

The swarm here is an in-memory `Swarm` whose clients download at a fixed share of
the film per second of trio's clock: the driver's decisions are about time, and a
virtual clock lets the tests assert exact times without waiting for them.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import trio
import trio.testing

from sim import (
    LOOPBACK_POOL,
    BackendError,
    ClientObservation,
    ClientPlan,
    EventAction,
    Fate,
    FlashCrowd,
    SimEvent,
    StatusSample,
    StopHow,
    SwarmPlan,
    drive_swarm,
    plan_swarm,
)
from sim.backends.base import SwarmMeasurements
from sim.driver import ANNOUNCE_SETTLE_S
from sim.errors import ScenarioError
from sim.live_progress import SwarmSnapshot, describe_snapshot

from .conftest import make_scenario


class VirtualSwarm:
    """Clients progress by ``share_per_s`` of the film per (virtual) second once started."""

    def __init__(self, share_per_s: float = 0.1) -> None:
        self.share_per_s = share_per_s
        self.log: list[tuple[float, str]] = []
        self.started_at: dict[str, float] = {}
        self.stopped_at: dict[str, float] = {}

    @property
    def film_bytes(self) -> int:
        return 1000

    def _note(self, what: str) -> None:
        self.log.append((trio.current_time(), what))

    async def start_tracker(self) -> None:
        self._note("tracker up")

    async def stop_tracker(self, how: StopHow) -> None:
        self._note(f"tracker down ({how})")

    async def start_origin(self) -> None:
        await trio.sleep(0.25)  # an origin takes a moment to listen
        self._note("origin up")

    async def stop_origin(self, how: StopHow) -> None:
        self._note(f"origin down ({how})")

    async def start_client(self, client: ClientPlan) -> None:
        self.started_at[client.name] = trio.current_time()
        self._note(f"{client.name} start")

    async def stop_client(self, client: ClientPlan, how: StopHow) -> None:
        self.stopped_at[client.name] = trio.current_time()
        self._note(f"{client.name} stop ({how})")

    async def partition_client(self, client: ClientPlan) -> None:
        self._note(f"{client.name} partitioned")

    async def heal_client(self, client: ClientPlan) -> None:
        self._note(f"{client.name} healed")

    def observe(self, client: ClientPlan) -> ClientObservation:
        start = self.started_at.get(client.name)
        if start is None:
            return ClientObservation()
        end = self.stopped_at.get(client.name, trio.current_time())
        progress = min(1.0, (end - start) * self.share_per_s)
        sample = StatusSample(end, end - start, progress, progress >= 1, 0, 0, 0)
        return ClientObservation(samples=(sample,), started_unix=start,
                                 exited=client.name in self.stopped_at)

    async def measure(self) -> SwarmMeasurements:
        return SwarmMeasurements()

    async def collect(self) -> dict[str, ClientObservation]:
        return {}


def _plan(count: int = 3, **overrides: object) -> SwarmPlan:
    scenario = make_scenario(count=count, arrivals=FlashCrowd(within_s=0.0), **overrides)
    return plan_swarm(scenario, LOOPBACK_POOL, random.Random(1))


async def test_events_and_arrivals_happen_on_time(autojump_clock: trio.testing.MockClock) -> None:
    events = (
        SimEvent(2.0, EventAction.ORIGIN_DOWN),
        SimEvent(3.0, EventAction.CLIENT_KILL, client=2, how=StopHow.TERM),
        SimEvent(4.0, EventAction.TRACKER_RESTART, how=StopHow.TERM),
        SimEvent(5.0, EventAction.ORIGIN_UP),
    )
    plan = _plan(events=events)
    plan = replace(plan, clients=(plan.clients[0], replace(plan.clients[1], arrival_s=1.5),
                                  replace(plan.clients[2], arrival_s=2.5)))
    swarm = VirtualSwarm()
    begin = trio.current_time()
    said: list[str] = []
    record = await drive_swarm(swarm, plan, say=said.append, poll_s=0.5,
                               wall_clock=lambda: 1000.0)
    t0 = begin + 0.25 + ANNOUNCE_SETTLE_S  # after the origin listens and announces
    log = [(round(t - t0, 3), what) for t, what in swarm.log]
    assert log == [
        (-1.25, "tracker up"),
        (-1.0, "origin up"),
        (0.0, "client-1 start"),
        (1.5, "client-2 start"),
        (2.0, "origin down (kill)"),
        (2.5, "client-3 start"),
        (3.0, "client-2 stop (term)"),
        (4.0, "tracker down (term)"),
        (4.0, "tracker up"),
        (5.25, "origin up"),
    ]
    assert [(e.at_s, round(e.done_at_s, 3)) for e in record.events] == [
        (2.0, 2.0), (3.0, 3.0), (4.0, 4.0), (5.0, 5.25)]
    assert said == ["   2.0 s  event: origin-down (kill)",
                    "   3.0 s  event: client-kill client 2 (term)",
                    "   4.0 s  event: tracker-restart (term)",
                    "   5.2 s  event: origin-up"]
    assert record.fates == {"client-1": Fate.COMPLETE, "client-2": Fate.KILLED,
                            "client-3": Fate.COMPLETE}
    assert not record.timed_out
    assert record.t0_unix == 1000.0
    # Client 3 started at 2.5 and needs 10 s; the first poll that sees it done ends the run.
    assert record.duration_s == 12.5


async def test_a_churner_quits_at_its_point(autojump_clock: trio.testing.MockClock) -> None:
    plan = _plan(count=2)
    plan = replace(plan, clients=(plan.clients[0],
                                  replace(plan.clients[1], quit_at_progress=0.42)))
    swarm = VirtualSwarm()
    record = await drive_swarm(swarm, plan, poll_s=0.5)
    # 0.1 of the film per second: 0.42 is passed at 4.2 s, seen by the poll at 4.5 s.
    assert swarm.stopped_at["client-2"] - swarm.started_at["client-2"] == 4.5
    assert ("client-2 stop (term)") in [what for _, what in swarm.log]
    assert record.fates == {"client-1": Fate.COMPLETE, "client-2": Fate.QUIT}


async def test_a_client_killed_before_it_arrives_never_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plan = _plan(count=2, events=(SimEvent(1.0, EventAction.CLIENT_KILL, client=2),))
    plan = replace(plan, clients=(plan.clients[0], replace(plan.clients[1], arrival_s=3.0)))
    swarm = VirtualSwarm()
    record = await drive_swarm(swarm, plan, poll_s=0.5)
    assert "client-2" not in swarm.started_at
    assert record.fates == {"client-1": Fate.COMPLETE, "client-2": Fate.NOT_STARTED}


async def test_a_client_that_exits_on_its_own_has_failed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class CrashingSwarm(VirtualSwarm):
        def observe(self, client: ClientPlan) -> ClientObservation:
            seen = super().observe(client)
            crashed = client.number == 1 and seen.progress >= 0.3
            return replace(seen, exited=True) if crashed else seen

    record = await drive_swarm(CrashingSwarm(), _plan(count=2), poll_s=0.5)
    assert record.fates == {"client-1": Fate.FAILED, "client-2": Fate.COMPLETE}


async def test_the_timeout_ends_the_run(autojump_clock: trio.testing.MockClock) -> None:
    plan = _plan(count=2, timeout_s=3.0)
    shown: list[SwarmSnapshot] = []
    record = await drive_swarm(VirtualSwarm(share_per_s=0.01), plan, show=shown.append)
    assert record.timed_out
    assert record.duration_s == 3.0
    assert record.fates == {"client-1": Fate.TIMEOUT, "client-2": Fate.TIMEOUT}
    last = shown[-1]
    assert (last.downloading, last.waiting, last.done) == (2, 0, {})
    assert "downloading 2" in describe_snapshot(last)


async def test_a_backend_error_in_an_event_comes_out_as_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class OriginWontComeBack(VirtualSwarm):
        async def start_origin(self) -> None:
            if self.log:  # the first start works, the restart fails
                raise BackendError("the origin seeder did not start listening")
            await super().start_origin()

    events = (SimEvent(1.0, EventAction.ORIGIN_DOWN), SimEvent(2.0, EventAction.ORIGIN_UP))
    with pytest.raises(BackendError, match="did not start listening"):
        await drive_swarm(OriginWontComeBack(), _plan(events=events))


async def test_a_partition_and_its_heal_happen_on_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events = (
        SimEvent(2.0, EventAction.CLIENT_PARTITION, client=1),
        SimEvent(4.0, EventAction.CLIENT_HEAL, client=1),
    )
    swarm = VirtualSwarm()
    begin = trio.current_time()
    record = await drive_swarm(swarm, _plan(count=1, events=events), poll_s=0.5,
                               wall_clock=lambda: 1000.0)
    t0 = begin + 0.25 + ANNOUNCE_SETTLE_S
    log = [(round(t - t0, 3), what) for t, what in swarm.log if "client-1 " in what + " "]
    assert log == [(0.0, "client-1 start"), (2.0, "client-1 partitioned"),
                   (4.0, "client-1 healed")]
    assert [e.action for e in record.events] == [EventAction.CLIENT_PARTITION,
                                                 EventAction.CLIENT_HEAL]


def test_a_partition_needs_a_client() -> None:
    with pytest.raises(ScenarioError, match="'client' is required for client-kill, "
                                             "client-partition"):
        SimEvent(2.0, EventAction.CLIENT_PARTITION)
