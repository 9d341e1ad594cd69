"""peernode's own commands in the lab: tracker and origin on the internet, customers in
homes behind every kind of router.

The tests marked xfail use what the nodenet branch (dual-stack listening, port mapping
on by default, ``port_mapping`` in ``fetch --json``) and the trackernet branch (a
connect-back probe classing peers connectable/unreachable, per-class counts in the
metrics, ``peers6``) add; they go green when those are merged.
"""

from __future__ import annotations


import pytest
import trio

from sim.netlab import HomeKind, Lab, Netns
from sim.netlab.swarm import FetchResult, LabSwarm, open_lab_swarm

pytestmark = [pytest.mark.netlab, pytest.mark.timeout(90)]

FILM_MIB = 4.0
NEEDS_BRANCHES = "needs the nodenet/trackernet branches"


def _summary(result: FetchResult) -> dict[str, object]:
    tail = result.log.read_text(errors="replace").strip().splitlines()[-3:]
    assert result.complete, f"fetch exited {result.returncode}: {tail}"
    assert result.summary is not None
    return result.summary


async def test_a_client_behind_nat_completes_from_the_public_origin(lab: Lab) -> None:
    home = lab.add_home("home", HomeKind.NAT)
    async with open_lab_swarm(lab, clients=1, film_mib=FILM_MIB) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        summary = _summary(await swarm.fetch(home.client, 1, timeout_s=60))
        assert summary["bytes_from_origin"] == summary["bytes_total"]
        assert await swarm.origin_uploaded() >= int(str(summary["bytes_total"]))


async def _seed_then_stop_origin(swarm: LabSwarm, seeder: Netns, *extra: str,
                                 listen: str | None = None) -> None:
    """Client 1 (in ``seeder``) completes from the origin and keeps sharing; then the
    origin stops, so later clients can only get the film from peers."""
    await swarm.start_fetch(seeder, 1, "--seed-for", "80", *extra, listen=listen)
    await swarm.wait_complete(1, timeout_s=60)
    await trio.sleep(2)  # its next announce tells the tracker it is a seed
    await swarm.stop_origin()


async def _fetch_all(swarm: LabSwarm, clients: dict[int, Netns], *extra: str,
                     listen: str | None = None) -> dict[int, FetchResult]:
    results: dict[int, FetchResult] = {}

    async def one(number: int, ns: Netns) -> None:
        results[number] = await swarm.fetch(ns, number, *extra, listen=listen, timeout_s=50)

    async with trio.open_nursery() as nursery:
        for number, ns in clients.items():
            nursery.start_soon(one, number, ns)
    return results


async def test_two_nat_clients_complete_through_a_reachable_peer(lab: Lab) -> None:
    public = lab.add_home("pub", HomeKind.PUBLIC)
    nat = [lab.add_home(f"nat{i}", HomeKind.NAT) for i in (1, 2)]
    async with open_lab_swarm(lab, clients=3, film_mib=FILM_MIB) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        await _seed_then_stop_origin(swarm, public.client)
        results = await _fetch_all(swarm, {2: nat[0].client, 3: nat[1].client})
    for number in (2, 3):
        summary = _summary(results[number])
        assert summary["bytes_from_peers"] == summary["bytes_total"]
