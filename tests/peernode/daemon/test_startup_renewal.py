"""The daemon's start-up renewal retry loop, driven by a fake wall clock and sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from peernode.daemon.startup_renewal import retry_start_renewal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _World:
    """A wall clock that moves only when the loop sleeps, and what the loop did."""

    def __init__(self, outcomes: list[str | None], *, ends_after: int | None = None) -> None:
        self.now = T0
        self.outcomes = outcomes  # what each attempt returns, in turn
        self.ends_after = ends_after  # the schedule runs out after this many failures
        self.slept: list[float] = []
        self.listed: list[str] = []
        self.attempts: list[int] = []
        self.jitters: list[float] = []
        self.wanted = True

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)

    def retry_at(self, failure: str, failures: int, now: datetime,
                 jitter: float) -> datetime | None:
        self.jitters.append(jitter)
        if self.ends_after is not None and failures > self.ends_after:
            return None
        return now + timedelta(seconds=10 * failures)

    async def try_once(self, failures: int) -> str | None:
        self.attempts.append(failures)
        return self.outcomes.pop(0)

    async def run(self, first: str = "down") -> str | None:
        return await retry_start_renewal(
            first, self.try_once, retry_at=self.retry_at, listed=self.listed.append,
            wanted=lambda: self.wanted, wall_clock=self.clock, jitter=lambda: 0.25,
            sleep=self.sleep)


async def test_it_tries_again_with_the_backoff_until_an_attempt_ends_it() -> None:
    world = _World(["still down", "down again", None])
    assert await world.run() is None
    assert world.attempts == [1, 2, 3]  # the failed attempts so far, at each try
    assert world.slept == [10, 20, 30]
    assert world.jitters == [0.25, 0.25, 0.25]
    assert world.listed == [
        f"down; next attempt at {(T0 + timedelta(seconds=10)).isoformat()}",
        f"still down; next attempt at {(T0 + timedelta(seconds=30)).isoformat()}",
        f"down again; next attempt at {(T0 + timedelta(seconds=60)).isoformat()}",
    ]


async def test_the_last_failure_is_returned_when_the_schedule_runs_out() -> None:
    world = _World(["still down", "down again"], ends_after=2)
    assert await world.run() == "down again"
    assert world.attempts == [1, 2]
    assert len(world.listed) == 2


async def test_nothing_is_tried_once_the_entry_is_deleted() -> None:
    world = _World([])
    world.wanted = False
    assert await world.run() is None
    assert world.attempts == []
    assert world.slept == [10]


async def test_it_waits_until_the_listed_time_not_past_it() -> None:
    """The wait is to the listed time: a clock that moved meanwhile shortens it, never
    below zero."""
    world = _World([None])

    def retry_at(failure: str, failures: int, now: datetime, jitter: float) -> datetime:
        world.now += timedelta(seconds=25)  # time passes between reading and sleeping
        return now + timedelta(seconds=10)

    await retry_start_renewal("down", world.try_once, retry_at=retry_at,
                              listed=world.listed.append, wanted=lambda: True,
                              wall_clock=world.clock, sleep=world.sleep)
    assert world.slept == [0.0]
    assert world.attempts == [1]
