"""The launcher: nodes' command lines, and a process group that always tears down."""

from __future__ import annotations

import random
import shutil
import sys
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
from sim.backends.launcher import ProcessGroup, fetch_args, open_process_group, wait_started
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
    assert "--upload-limit" not in plain
    assert "--limit-local-peers" not in plain
    assert plain[plain.index("--listen") + 1] == "127.0.0.9:0"
    assert plain[-1] == "--json"
    capped = fetch_args(tmp_path / "f.torrent", client, "::1", 6881, rates_bps=(4, 0),
                        seed_for_s=300.0)
    assert capped[capped.index("--listen") + 1] == "[::1]:6881"
    assert capped[capped.index("--upload-limit") + 1] == "4"
    assert capped[capped.index("--download-limit") + 1] == "0"
    assert capped[capped.index("--seed-for") + 1] == "300"
    assert "--limit-local-peers" in capped


async def _start_two_then_one_that_fails(directory: Path, pids: list[int]) -> ProcessGroup:
    async with open_process_group(grace_s=0.5) as group:
        pids.append((await group.spawn("sleeper", _SLEEPER, log=directory / "s.log")).pid)
        pids.append((await group.spawn("deaf", _DEAF, log=directory / "d.log")).pid)
        failing = await group.spawn(
            "failing", [sys.executable, "-c", "import sys; sys.exit('error: no such film')"],
            log=directory / "f.log")
        pids.append(failing.pid)
        await wait_started("127.0.0.1", free_port("127.0.0.1"), failing, "the node",
                           directory / "f.log")
    return group


async def test_a_process_that_fails_to_start_and_every_other_are_torn_down(
    tmp_path: Path,
) -> None:
    """One process exits at once instead of listening: `BackendError` with its log's last
    line; leaving the group stops the others, one of which ignores SIGTERM."""
    pids: list[int] = []
    with pytest.raises(BackendError, match=r"the node did not start listening.*no such film"):
        await _start_two_then_one_that_fails(tmp_path, pids)
    assert len(pids) == 3
    assert not any(_alive(pid) for pid in pids)


async def _start_the_tracker_then_a_broken_origin(plan: SwarmPlan, workdir: Path,
                                                  pids: list[int]) -> None:
    async with open_local_swarm(plan, workdir) as swarm:
        await swarm.start_tracker()
        pids.extend(int(pid) for pid in _pids_under(workdir))
        shutil.rmtree(swarm.files.operator.library)
        await swarm.start_origin()


def _pids_under(directory: Path) -> list[str]:
    return [cmdline.parent.name for cmdline in Path("/proc").glob("[0-9]*/cmdline")
            if str(directory).encode() in _read(cmdline)]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def test_an_origin_that_fails_to_start_leaves_no_process(tmp_path: Path) -> None:
    """The origin's library is gone: starting it fails with its error, and the tracker
    started before it is stopped when the swarm is left."""
    plan = plan_swarm(load_scenario(SCENARIOS_DIR / "smoke.toml"), LOOPBACK_POOL,
                      random.Random(1))
    workdir = tmp_path / "swarm"
    tracker_pids: list[int] = []
    with pytest.raises(BackendError, match="the origin seeder did not start listening"):
        await _start_the_tracker_then_a_broken_origin(plan, workdir, tracker_pids)
    assert len(tracker_pids) == 1
    assert not _alive(tracker_pids[0])
    assert _running_under(workdir) == []


async def test_cancelling_the_group_while_it_waits_still_tears_down(tmp_path: Path) -> None:
    with trio.move_on_after(1.0) as scope:
        async with open_process_group(grace_s=0.5) as group:
            await group.spawn("deaf", _DEAF, log=tmp_path / "d.log")
            await trio.sleep_forever()
    assert scope.cancelled_caught
    (proc,) = group.processes
    assert proc.returncode is not None
    assert not _alive(proc.pid)
