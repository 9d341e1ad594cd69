"""Locality in the lab: customers of two ISPs (an operator ``[networks]`` map given to the
tracker) are each given their own ISP's peers first, and mostly theirs.

Evidence from the tracker's answers (its log of each list, `LabSwarm.tracker_answers`)
and its ``tracker_peers_handed_out_total`` counts. Lists are kept to the origin and three
peers (``numwant_max = 4``) so that "mostly local, a few from elsewhere" shows with six
customers.
"""

from __future__ import annotations

import pytest
import trio

from sim.netlab import HomeKind, Lab
from sim.netlab.swarm import LabSwarm, http_get_in, open_lab_swarm

pytestmark = [pytest.mark.netlab, pytest.mark.timeout(120)]

ISPS = ("isp-a", "isp-b")


def _tracker_toml(prefixes: dict[str, str]) -> str:
    lines = ["[swarm]", "numwant_max = 4", "numwant_default = 4", "[networks]"]
    lines += [f'"{cidr}" = "{isp}"' for cidr, isp in prefixes.items()]
    return "\n".join(lines) + "\n"


async def _first_answer(swarm: LabSwarm, ip: str, timeout_s: float = 30.0) -> list[str]:
    with trio.fail_after(timeout_s):
        while True:
            for answer in swarm.tracker_answers():
                if answer.peer == ip:
                    return answer.given
            await trio.sleep(0.2)


async def test_each_customer_is_given_its_own_isps_peers_first(lab: Lab) -> None:
    # six public homes, alternately at ISP a and ISP b (each home has its own /24, so
    # only the operator's map puts them together)
    homes = [lab.add_home(f"h{i}", HomeKind.PUBLIC) for i in range(1, 7)]
    isp_of = {home.client.v4: ISPS[i % 2] for i, home in enumerate(homes)}
    prefixes = {f"{ip.rsplit('.', 1)[0]}.0/24": isp for ip, isp in isp_of.items()}
    config = lab.workdir / "tracker.toml"
    config.write_text(_tracker_toml(prefixes), encoding="utf-8")
    async with open_lab_swarm(lab, clients=len(homes), film_mib=4.0) as swarm:
        await swarm.start_tracker("--config", str(config), metrics_port=9200,
                                  log_answers=True)
        await swarm.start_origin()
        answers: dict[str, list[str]] = {}
        # one after the other, so that each is given the ones before it
        for number, home in enumerate(homes, start=1):
            await swarm.start_fetch(home.client, number, "--seed-for", "90")
            answers[home.client.v4] = await _first_answer(swarm, home.client.v4)
        metrics = await _tracker_metrics(swarm, 9200)

    origin = swarm.origin.v4
    for number, home in enumerate(homes, start=1):
        me = home.client.v4
        given = answers[me]
        assert given[0] == origin, (number, given)
        peers = given[1:]
        earlier = [h.client.v4 for h in homes[: number - 1]]
        assert set(peers) <= set(earlier), (number, given)
        local = [p for p in peers if isp_of[p] == isp_of[me]]
        available_local = [p for p in earlier if isp_of[p] == isp_of[me]]
        # own ISP first, then the others
        assert peers == local + [p for p in peers if p not in local], (number, given)
        # as many of its own as there are, up to 2 of the 3 places; 1 from elsewhere
        assert len(local) == min(2, len(available_local)), (number, given)
        if len(available_local) >= 2:
            assert len(peers) - len(local) == 1, (number, given)
    # the tracker counted them (later announces, and the origin, count too)
    local_n = sum(isp_of[p] == isp_of[me] for me, given in answers.items() for p in given[1:])
    remote_n = sum(len(given) - 1 for given in answers.values()) - local_n
    handed = _scopes(metrics)
    assert handed["same_network"] >= local_n, handed
    assert handed["other_network"] >= remote_n + len(homes), handed  # + the origin


async def _tracker_metrics(swarm: LabSwarm, port: int) -> str:
    return await http_get_in(swarm.tracker, f"http://{swarm.tracker.v4}:{port}/metrics")


def _scopes(metrics_text: str) -> dict[str, float]:
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith("tracker_peers_handed_out_total{"):
            scope = line.split('scope="', 1)[1].split('"', 1)[0]
            out[scope] = float(line.rsplit(" ", 1)[1])
    return out
