"""The local backend tears every process down when the run fails or is cancelled."""

from __future__ import annotations

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
