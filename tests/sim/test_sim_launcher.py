"""The launcher: nodes' command lines, and a process group that always tears down."""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import pytest
import trio

from sim import LOOPBACK_POOL, BackendError, load_scenario, open_local_swarm, plan_swarm
from sim.backends.launcher import fetch_args, open_process_group, wait_started
from sim.backends.provision import ClientFiles
from support.processes import free_port

from .conftest import SCENARIOS_DIR
from .test_sim_local import _running_under

_SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
_DEAF = [sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"]


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not been reaped (a zombie still counts)."""
    return Path(f"/proc/{pid}").exists()


def test_fetch_args_cap_rates_only_when_asked(tmp_path: Path) -> None:
    client = ClientFiles(tmp_path / "c")
    plain = fetch_args(tmp_path / "f.torrent", client, "127.0.0.9")
    assert "--upload-limit" not in plain and "--limit-local-peers" not in plain
    assert plain[plain.index("--listen") + 1] == "127.0.0.9:0"
    assert plain[-1] == "--json"
    capped = fetch_args(tmp_path / "f.torrent", client, "::1", 6881, rates_bps=(4, 0),
                        seed_for_s=300.0)
    assert capped[capped.index("--listen") + 1] == "[::1]:6881"
    assert capped[capped.index("--upload-limit") + 1] == "4"
    assert capped[capped.index("--download-limit") + 1] == "0"
    assert capped[capped.index("--seed-for") + 1] == "300"
    assert "--limit-local-peers" in capped


async def test_a_process_that_fails_to_start_and_every_other_are_torn_down(
    tmp_path: Path,
) -> None:
    """One process exits at once instead of listening: `BackendError` with its log's last
    line; leaving the group stops the others, one of which ignores SIGTERM."""
    pids = []
    with pytest.raises(BackendError, match="the node did not start listening.*no such film"):
        async with open_process_group(grace_s=0.5) as group:
            pids.append((await group.spawn("sleeper", _SLEEPER, log=tmp_path / "s.log")).pid)
            pids.append((await group.spawn("deaf", _DEAF, log=tmp_path / "d.log")).pid)
            failing = await group.spawn(
                "failing", [sys.executable, "-c", "import sys; sys.exit('error: no such film')"],
                log=tmp_path / "f.log")
            pids.append(failing.pid)
            await wait_started("127.0.0.1", free_port("127.0.0.1"), failing, "the node",
                               tmp_path / "f.log")
    assert all(p.returncode is not None for p in group.processes)
    assert not any(_alive(pid) for pid in pids)


async def test_an_origin_that_fails_to_start_leaves_no_process(tmp_path: Path) -> None:
    """The origin's library is gone: starting it fails with its error, and the tracker
    started before it is stopped when the swarm is left."""
    plan = plan_swarm(load_scenario(SCENARIOS_DIR / "smoke.toml"), LOOPBACK_POOL,
                      random.Random(1))
    workdir = tmp_path / "swarm"
    with pytest.raises(BackendError, match="the origin seeder did not start listening"):
        async with open_local_swarm(plan, workdir) as swarm:
            await swarm.start_tracker()
            tracker = swarm._group.get("tracker")
            assert tracker is not None and tracker.returncode is None
            shutil.rmtree(swarm.files.library)
            await swarm.start_origin()
    assert tracker.returncode is not None
    assert not _alive(tracker.pid)
    assert _running_under(workdir) == []


async def test_cancelling_the_group_while_it_waits_still_tears_down(tmp_path: Path) -> None:
    with trio.move_on_after(1.0) as scope:
        async with open_process_group(grace_s=0.5) as group:
            await group.spawn("deaf", _DEAF, log=tmp_path / "d.log")
            await trio.sleep_forever()
    assert scope.cancelled_caught
    (proc,) = group.processes
    assert proc.returncode is not None and not _alive(proc.pid)
