"""Trying again, in the daemon, a start-up renewal the service could not answer.

A rental (`peernode.daemon.controller`) or a hosting (`peernode.daemon.hosting_controller`)
whose certificate expired while the daemon was off is renewed at its start; when the
service cannot be reached, the daemon lists it as expired and `retry_start_renewal` tries
again with the running renewal's backoff (`peernode.runtime.renewal_schedule`), listing
when the next attempt is, until an attempt ends it (renewed, or refused: the caller's
``try_once`` says so and does what follows), the schedule runs out (a rental's window
ended) or the entry is deleted. The schedule is the caller's pure ``retry_at``; the wall
clock, the randomness and the sleep are parameters, so tests drive the loop without a
service.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import trio

__all__ = ["RetryAt", "retry_start_renewal"]

F = TypeVar("F")
"""What an attempt the service could not answer says (its error, or its message):
``str()`` of it is listed with the next attempt."""

RetryAt = Callable[[F, int, datetime, float], datetime | None]
"""``retry_at(failure, failures, now, jitter)``: when to try again after ``failures`` (>= 1)
failed attempts in a row, the last saying ``failure``, with ``jitter`` in [0, 1); None when
there is nothing more to try."""


async def retry_start_renewal(
    failure: F,
    try_once: Callable[[int], Awaitable[F | None]],
    *,
    retry_at: RetryAt[F],
    listed: Callable[[str], None],
    wanted: Callable[[], bool],
    wall_clock: Callable[[], datetime],
    jitter: Callable[[], float] = random.random,
    sleep: Callable[[float], Awaitable[None]] = trio.sleep,
) -> F | None:
    """Try again a start-up renewal whose first attempt said ``failure``.

    Before each wait, ``listed`` gets the entry's message (``"<failure>; next attempt at
    <ISO time>"``); after it, nothing more is tried unless ``wanted()`` (the entry was not
    deleted meanwhile). ``try_once(failures)``, given the failed attempts so far, renews
    once and returns what the service said if it could not be reached again (tried again
    later), or None once the attempt ended the retries (renewed or refused, which it
    handles itself). Returns the last failure when ``retry_at`` has nothing more to try,
    else None.
    """
    failures = 1
    while (at := retry_at(failure, failures, wall_clock(), jitter())) is not None:
        listed(f"{failure}; next attempt at {at.isoformat()}")
        await sleep(max(0.0, (at - wall_clock()).total_seconds()))
        if not wanted():
            return None  # deleted meanwhile
        again = await try_once(failures)
        if again is None:
            return None
        failure, failures = again, failures + 1
    return failure
