"""The driver: runs a plan against a backend's `Swarm`, on time.

Clients are started at their arrival times and events executed at theirs, each
in its own task so that a slow step (an origin restarting) never delays the
other schedule. A monitor polls the clients, stops churners once they reach
their quitting point, decides every client's `Fate`, and feeds the progress
display. The run ends when every client has a fate, or at the scenario's
timeout. Time is trio's clock, so tests run whole scenarios on a MockClock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from sim.analysis.outcomes import Fate
from sim.backends.base import Swarm
from sim.live_progress import SwarmSnapshot, snapshot
from sim.placement_phase import PlacementRecord, run_placement
from sim.scenario.model import EventAction, SimEvent, StopHow
from sim.scenario.plan import ClientPlan, SwarmPlan

__all__ = ["EventRecord", "RunRecord", "drive_swarm"]

POLL_S = 0.5
ANNOUNCE_SETTLE_S = 1.0
"""After the origin is up, time for its first announce to reach the tracker before
clients arrive (otherwise early clients wait a whole announce interval for it)."""


_STOPPING = (EventAction.ORIGIN_DOWN, EventAction.TRACKER_DOWN, EventAction.TRACKER_RESTART,
             EventAction.CLIENT_KILL)


@dataclass(frozen=True)
class EventRecord:
    """An executed event: planned and actual time (seconds after the swarm started)."""

    at_s: float
    done_at_s: float
    action: EventAction
    client: int | None
    how: StopHow

    def describe(self) -> str:
        """``client-kill client 3 (kill)``, ``origin-up``: what happened, in a few words."""
        target = f" client {self.client}" if self.client is not None else ""
        how = f" ({self.how.value})" if self.action in _STOPPING else ""
        return f"{self.action.value}{target}{how}"

    def to_json(self) -> dict[str, object]:
        return {"at_s": self.at_s, "done_at_s": round(self.done_at_s, 3),
                "action": self.action.value, "client": self.client, "how": self.how.value}


@dataclass(frozen=True)
class RunRecord:
    """What the driver did: the start time the samples relate to, fates, events."""

    t0_unix: float
    duration_s: float
    timed_out: bool
    fates: dict[str, Fate]
    events: tuple[EventRecord, ...]
    placement: PlacementRecord | None = None
    """The placement window before the release (a scenario with ``[hosts]``); the
    clients' times count from its end."""


@dataclass
class _State:
    fates: dict[str, Fate] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)
    arrivals_done: bool = False
    events: list[EventRecord] = field(default_factory=list)


async def drive_swarm(
    swarm: Swarm,
    plan: SwarmPlan,
    *,
    show: Callable[[SwarmSnapshot], None] | None = None,
    say: Callable[[str], None] | None = None,
    poll_s: float = POLL_S,
    wall_clock: Callable[[], float] = time.time,
) -> RunRecord:
    """Start the tracker and origin, then run ``plan`` on ``swarm`` until every client
    has a fate or ``plan.scenario.timeout_s`` has passed; ``show`` gets a snapshot
    every poll, ``say`` a line for each event done. Errors of the backend propagate
    (the caller tears the swarm down)."""
    await swarm.start_tracker()
    await swarm.start_origin()
    await trio.sleep(ANNOUNCE_SETTLE_S)
    placement = await run_placement(swarm, plan, say=say)
    state = _State()
    t0 = trio.current_time()
    t0_unix = wall_clock()
    timed_out = True
    with trio.move_on_after(plan.scenario.timeout_s):
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_arrivals, swarm, plan, state, t0)
                nursery.start_soon(_events, swarm, plan, state, t0, say)
                await _monitor(swarm, plan, state, t0, poll_s, show)
                timed_out = False
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Callers expect the error itself (a SimError becomes one line on the
            # command line, Ctrl-C an "interrupted"), not trio's group around it.
            raise _first_error(group) from None
    for client in plan.clients:
        state.fates.setdefault(client.name, Fate.TIMEOUT)
    return RunRecord(
        t0_unix=t0_unix,
        duration_s=trio.current_time() - t0,
        timed_out=timed_out,
        fates=dict(state.fates),
        events=tuple(state.events),
        placement=placement,
    )


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error behind a nursery's group: a KeyboardInterrupt if there is one, else the first."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending[:0] = error.exceptions
        else:
            leaves.append(error)
    return next((e for e in leaves if isinstance(e, KeyboardInterrupt)), leaves[0])


async def _arrivals(swarm: Swarm, plan: SwarmPlan, state: _State, t0: float) -> None:
    for client in plan.clients:
        await trio.sleep_until(t0 + client.arrival_s)
        if client.name in state.fates:  # killed by an event before it arrived
            continue
        await swarm.start_client(client)
        state.started.add(client.name)
    state.arrivals_done = True


async def _events(swarm: Swarm, plan: SwarmPlan, state: _State, t0: float,
                  say: Callable[[str], None] | None) -> None:
    for event in plan.events:
        await trio.sleep_until(t0 + event.at_s)
        await _execute(swarm, plan, state, event)
        record = EventRecord(event.at_s, trio.current_time() - t0, event.action,
                             event.client, event.how)
        state.events.append(record)
        if say is not None:
            say(f"{record.done_at_s:6.1f} s  event: {record.describe()}")


async def _execute(swarm: Swarm, plan: SwarmPlan, state: _State, event: SimEvent) -> None:
    match event.action:
        case EventAction.ORIGIN_DOWN:
            await swarm.stop_origin(event.how)
        case EventAction.ORIGIN_UP:
            await swarm.start_origin()
        case EventAction.TRACKER_DOWN:
            await swarm.stop_tracker(event.how)
        case EventAction.TRACKER_UP:
            await swarm.start_tracker()
        case EventAction.TRACKER_RESTART:
            await swarm.stop_tracker(event.how)
            await swarm.start_tracker()
        case EventAction.CLIENT_PARTITION:
            assert event.client is not None  # checked by SimEvent
            await swarm.partition_client(plan.client(event.client))
        case EventAction.CLIENT_HEAL:
            assert event.client is not None  # checked by SimEvent
            await swarm.heal_client(plan.client(event.client))
        case EventAction.CLIENT_KILL:
            assert event.client is not None  # checked by SimEvent
            client = plan.client(event.client)
            if client.name not in state.started:
                state.fates[client.name] = Fate.NOT_STARTED
            else:
                # One that already completed keeps that fate: it was killed while seeding.
                state.fates.setdefault(client.name, Fate.KILLED)
                await swarm.stop_client(client, event.how)


async def _monitor(
    swarm: Swarm,
    plan: SwarmPlan,
    state: _State,
    t0: float,
    poll_s: float,
    show: Callable[[SwarmSnapshot], None] | None,
) -> None:
    """Poll until every client has a fate and every arrival has happened."""
    while True:
        for client in plan.clients:
            if client.name in state.started and client.name not in state.fates:
                await _judge(swarm, client, state)
        if show is not None:
            observations = {c.name: swarm.observe(c) for c in plan.clients
                            if c.name in state.started}
            show(snapshot(plan, observations, state.fates, trio.current_time() - t0))
        if state.arrivals_done and len(state.fates) == len(plan.clients):
            return
        await trio.sleep(poll_s)


async def _judge(swarm: Swarm, client: ClientPlan, state: _State) -> None:
    seen = swarm.observe(client)
    if seen.complete:
        state.fates[client.name] = Fate.COMPLETE
    elif client.quit_at_progress is not None and seen.progress >= client.quit_at_progress:
        state.fates[client.name] = Fate.QUIT
        await swarm.stop_client(client, StopHow.TERM)
    elif seen.exited:
        state.fates[client.name] = Fate.FAILED
