"""The local backend tears every process down when the run fails or is cancelled, and
measures the origin's own byte count before it does."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
import trio

from sim import (
    LOOPBACK_POOL,
    BackendError,
    SwarmPlan,
    load_scenario,
    open_local_swarm,
    plan_swarm,
)
from sim.backends.local import LocalBackend
from sim.runner import run_simulation

from .conftest import SCENARIOS_DIR


def _running_under(directory: Path) -> list[str]:
    """Command lines of live processes that mention ``directory`` (our nodes do)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in text:
            found.append(text)
    return found


async def _start_nodes_then_start_the_tracker_twice(plan: SwarmPlan, workdir: Path) -> None:
    async with open_local_swarm(plan, workdir) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        await swarm.start_client(plan.clients[0])
        # A just-forked child shows its parent's command line until it execs.
        with trio.move_on_after(10):
            while len(_running_under(workdir)) < 3:
                await trio.sleep(0.05)
        assert len(_running_under(workdir)) == 3
        await swarm.start_tracker()


async def test_every_process_is_stopped_on_error_and_on_cancel(tmp_path: Path) -> None:
    plan = plan_swarm(load_scenario(SCENARIOS_DIR / "smoke.toml"), LOOPBACK_POOL,
                      random.Random(1))
    with pytest.raises(BackendError, match="tracker is already running"):
        await _start_nodes_then_start_the_tracker_twice(plan, tmp_path / "failing")
    assert _running_under(tmp_path / "failing") == []

    with trio.CancelScope() as scope:
        async with open_local_swarm(plan, tmp_path / "cancelled") as swarm:
            await swarm.start_tracker()
            await swarm.start_client(plan.clients[0])
            # A just-forked child shows its parent's command line until it execs.
            with trio.move_on_after(10):
                while len(_running_under(tmp_path / "cancelled")) < 2:
                    await trio.sleep(0.05)
            assert len(_running_under(tmp_path / "cancelled")) == 2
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert _running_under(tmp_path / "cancelled") == []


async def test_the_origin_s_own_count_matches_what_the_clients_got_from_it(
    tmp_path: Path,
) -> None:
    """A real swarm (the smoke scenario, super-seeding with its warm start): the bytes
    the origin says it sent, read from its metrics before teardown, equal the sum of
    the clients' bytes from the origin within 3 %. The two differ by what neither can
    see: a client counts as origin bytes what no peer's counter explains (a peer that
    left between two samples), the origin counts bytes still in flight when a
    connection closed. Measured on loopback: 0.0-0.4 %."""
    scenario = load_scenario(SCENARIOS_DIR / "smoke.toml")
    scenario = dataclasses.replace(
        scenario, origin=dataclasses.replace(scenario.origin, super_seed=True))
    report = await run_simulation(scenario, LocalBackend(), tmp_path / "out",
                                  workdir=tmp_path / "work")
    figures = report.figures
    attributed = sum(o.bytes_from_origin for o in report.outcomes)
    assert figures.incomplete_clients == 0
    assert figures.origin_bytes_measured is not None
    assert figures.origin_bytes_measured >= report.plan.scenario.film_bytes
    assert figures.attribution_gap is not None
    assert abs(figures.attribution_gap) <= 0.03, (attributed, figures.origin_bytes_measured)
    assert figures.origin_copies_measured is not None
    assert 1.0 <= figures.origin_copies_measured <= 4.0
