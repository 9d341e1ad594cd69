"""The docker backend runs the smoke scenario end to end and leaves nothing behind."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import trio

from sim import BackendError, SwarmPlan, load_scenario, plan_swarm, run_simulation
from sim.backends.docker import DOCKER_POOL, LABEL, WORKDIR_LABEL, DockerBackend, open_docker_swarm

from .conftest import SCENARIOS_DIR, docker_lines


def _left_behind(workdir: Path) -> list[str]:
    """Containers, networks and volumes of the run in ``workdir`` (other runs may be
    going on: this machine is shared)."""
    selector = f"label={WORKDIR_LABEL}={workdir}"
    return (docker_lines("ps", "-aq", "--filter", selector)
            + docker_lines("network", "ls", "-q", "--filter", selector)
            + docker_lines("volume", "ls", "-q", "--filter", selector))


async def test_smoke_scenario_completes_in_containers(docker_image: str, tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS_DIR / "smoke.toml")
    report = await run_simulation(scenario, DockerBackend(image=docker_image), tmp_path / "out",
                                  workdir=tmp_path / "work")
    f = report.figures
    assert report.backend == "docker"
    assert (f.clients, f.completed) == (4, 4)
    assert report.film_intact == {f"client-{i}": True for i in range(1, 5)}
    assert 0.0 < f.offload <= f.offload_limit
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "offload" in json.dumps(written)
    assert (tmp_path / "out" / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _left_behind(tmp_path / "work") == []


def _running(run_id: str) -> int:
    return len(docker_lines("ps", "-q", "--filter", f"label={LABEL}={run_id}"))


async def _start_nodes_then_start_the_tracker_twice(plan: SwarmPlan, workdir: Path,
                                                    image: str) -> None:
    async with open_docker_swarm(plan, workdir, image=image) as swarm:
        await swarm.start_tracker()
        await swarm.start_client(plan.clients[0])
        with trio.fail_after(60):  # a client is not waited for: its container comes up
            while _running(swarm.run_id) < 2:
                await trio.sleep(0.2)
        await swarm.start_tracker()


async def test_everything_is_removed_when_a_node_fails_to_start(
    docker_image: str, tmp_path: Path
) -> None:
    plan = plan_swarm(load_scenario(SCENARIOS_DIR / "smoke.toml"), DOCKER_POOL,
                      random.Random(1))
    with pytest.raises(BackendError, match="tracker is already running"):
        await _start_nodes_then_start_the_tracker_twice(plan, tmp_path / "work", docker_image)
    assert _left_behind(tmp_path / "work") == []


async def test_a_missing_image_is_a_clear_error(docker_image: str, tmp_path: Path) -> None:
    plan = plan_swarm(load_scenario(SCENARIOS_DIR / "smoke.toml"), DOCKER_POOL,
                      random.Random(1))
    with pytest.raises(BackendError, match="image peernode:absent not found"):
        async with open_docker_swarm(plan, tmp_path / "work", image="peernode:absent"):
            pass
    assert _left_behind(tmp_path / "work") == []


def _networks_of(container: str) -> list[str]:
    return docker_lines("inspect", "--format",
                        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", container)


async def test_a_partitioned_client_is_off_the_network_until_healed(
    docker_image: str, tmp_path: Path
) -> None:
    plan = plan_swarm(load_scenario(SCENARIOS_DIR / "smoke.toml"), DOCKER_POOL,
                      random.Random(1))
    client = plan.clients[0]
    async with open_docker_swarm(plan, tmp_path / "work", image=docker_image) as swarm:
        name, network = swarm.container_name(client.name), f"peernode-{swarm.run_id}"
        await swarm.start_client(client)
        with trio.fail_after(60):
            while _running(swarm.run_id) < 1:
                await trio.sleep(0.2)
        assert _networks_of(name) == [network]
        await swarm.partition_client(client)
        assert _networks_of(name) == []
        await swarm.heal_client(client)
        assert _networks_of(name) == [network]
        assert docker_lines("inspect", "--format",
                            f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
                            name) == [client.address]
    assert _left_behind(tmp_path / "work") == []
