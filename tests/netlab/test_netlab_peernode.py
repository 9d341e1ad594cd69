"""peernode's own commands in the lab: tracker and origin on the internet, customers in
homes behind every kind of router.

They use the node's dual-stack listening, its port mapping (on by default,
``port_mapping`` in ``fetch --json``) and the tracker's connect-back probe (peers classed
connectable/unreachable, per-class counts in its metrics, ``peers6``).
"""

from __future__ import annotations

import pytest
import trio

from sim.netlab import HomeKind, Lab, Netns
from sim.netlab.swarm import FetchResult, LabSwarm, http_get_in, open_lab_swarm

pytestmark = [pytest.mark.netlab, pytest.mark.timeout(90)]

FILM_MIB = 4.0


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
        # the origin's metrics are refreshed about once a second: wait for the count
        total = int(str(summary["bytes_total"]))
        with trio.fail_after(10):
            while await swarm.origin_uploaded() < total:
                await trio.sleep(0.5)


async def _seed_then_stop_origin(swarm: LabSwarm, seeder: Netns, *extra: str,
                                 listen: str | None = None) -> None:
    """Client 1 (in ``seeder``) completes from the origin and keeps sharing; then the
    origin stops, so later clients can only get the film from peers."""
    await swarm.start_fetch(seeder, 1, "--seed-for", "80", *extra, listen=listen)
    await swarm.wait_complete(1, timeout_s=30)
    await trio.sleep(2)  # its next announce tells the tracker it is a seed
    await swarm.stop_origin()


async def _fetch_all(swarm: LabSwarm, clients: dict[int, Netns], *extra: str,
                     listen: str | None = None) -> dict[int, FetchResult]:
    results: dict[int, FetchResult] = {}

    async def one(number: int, ns: Netns) -> None:
        results[number] = await swarm.fetch(ns, number, *extra, listen=listen, timeout_s=35)

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


async def test_a_node_behind_nat_upnp_maps_its_port_by_default(lab: Lab) -> None:
    home = lab.add_home("home", HomeKind.NAT_UPNP)
    async with open_lab_swarm(lab, clients=1, film_mib=FILM_MIB) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        summary = _summary(await swarm.fetch(home.client, 1, timeout_s=60))
    mapping = summary.get("port_mapping")
    assert isinstance(mapping, dict), summary
    assert mapping.get("protocol") in ("upnp", "natpmp"), mapping
    assert mapping.get("external_address") == home.router.v4
    assert isinstance(mapping.get("external_port"), int)


async def test_no_port_mapping_maps_nothing(lab: Lab) -> None:
    home = lab.add_home("home", HomeKind.NAT_UPNP)
    async with open_lab_swarm(lab, clients=1, film_mib=FILM_MIB) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        summary = _summary(await swarm.fetch(home.client, 1, "--no-port-mapping",
                                             timeout_s=60))
    mapping = summary.get("port_mapping")
    assert isinstance(mapping, dict), summary
    assert "error" in mapping
    assert "external_port" not in mapping


def _class_counts(metrics_text: str) -> dict[str, float]:
    """The tracker's per-class peer counts: the largest value of any sample whose name or
    labels say connectable / unreachable."""
    counts = {"connectable": 0.0, "unreachable": 0.0}
    for line in metrics_text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        for cls in counts:
            if cls in name and not (cls == "connectable" and "unconnectable" in name):
                counts[cls] = max(counts[cls], float(value))
    return counts


async def _tracker_metrics(swarm: LabSwarm, port: int) -> str:
    return await http_get_in(swarm.tracker, f"http://{swarm.tracker.v4}:{port}/metrics")


async def test_the_tracker_classes_mapped_peers_connectable_and_nat_only_unreachable(
        lab: Lab) -> None:
    mapped = lab.add_home("upnp", HomeKind.NAT_UPNP)
    hidden = lab.add_home("nat", HomeKind.NAT)
    async with open_lab_swarm(lab, clients=2, film_mib=FILM_MIB) as swarm:
        await swarm.start_tracker(metrics_port=9200)
        await swarm.start_origin()
        await swarm.start_fetch(mapped.client, 1, "--seed-for", "60")
        await swarm.start_fetch(hidden.client, 2, "--seed-for", "60")
        await swarm.wait_complete(1, timeout_s=60)
        await swarm.wait_complete(2, timeout_s=60)
        with trio.move_on_after(30):
            while True:
                text = await _tracker_metrics(swarm, 9200)
                counts = _class_counts(text)
                if counts["connectable"] >= 1 and counts["unreachable"] >= 1:
                    break
                await trio.sleep(1)
        reachability = [x for x in text.splitlines() if "reach" in x or "probe" in x]
        assert counts["connectable"] >= 1, reachability
        assert counts["unreachable"] >= 1, reachability


async def test_nat_only_clients_complete_through_a_port_mapped_peer(lab: Lab) -> None:
    mapped = lab.add_home("upnp", HomeKind.NAT_UPNP)
    nat = [lab.add_home(f"nat{i}", HomeKind.NAT) for i in (1, 2)]
    async with open_lab_swarm(lab, clients=3, film_mib=FILM_MIB) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        await _seed_then_stop_origin(swarm, mapped.client)
        results = await _fetch_all(swarm, {2: nat[0].client, 3: nat[1].client})
    for number in (2, 3):
        summary = _summary(results[number])
        assert summary["bytes_from_peers"] == summary["bytes_total"]


async def test_a_v6_only_client_completes_from_a_dual_stack_peer_over_ipv6(lab: Lab) -> None:
    dual = lab.add_home("dual", HomeKind.DUAL_STACK)
    v6 = lab.add_home("v6", HomeKind.V6_ONLY)
    async with open_lab_swarm(lab, clients=2, film_mib=FILM_MIB, tracker_v6=True) as swarm:
        await swarm.start_tracker()
        await swarm.start_origin()
        # The origin listens on IPv4 only: the dual-stack client is given it directly;
        # the tracker (on IPv6) then hands the dual-stack client's IPv6 address out.
        await _seed_then_stop_origin(swarm, dual.client, "--peer", f"{swarm.origin.v4}:6881",
                                     listen="")
        results = await _fetch_all(swarm, {2: v6.client}, listen="")
    summary = _summary(results[2])
    assert summary["bytes_from_peers"] == summary["bytes_total"]
