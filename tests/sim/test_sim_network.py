"""The ``[network]`` part of scenarios: homes, router kinds, ISPs; their one-line errors,
and the seeded planning of every client's home."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from sim import LOOPBACK_POOL, AddressPool, ScenarioError, load_scenario, plan_swarm
from sim.runner import check_backend_can_run
from sim.scenario.home_planning import largest_remainder, plan_homes, spread_evenly
from sim.scenario.homes import HomeKind
from sim.scenario.network import HomeShare, IspSpec, NetworkSpec

from .conftest import VALID_TOML, WriteScenario, make_scenario

NETWORK = """\
[network]
isps = ["east", "west"]
[network.homes]
public = 0.25
nat = 0.25
"nat-upnp" = 0.25
"dual-stack" = 0.25
"""


def _network(*shares: tuple[HomeKind, float], isps: tuple[IspSpec, ...] | None = None,
             ) -> NetworkSpec:
    return NetworkSpec(isps=isps or (IspSpec("east"), IspSpec("west")),
                       homes=tuple(HomeShare(k, s) for k, s in shares))


QUARTERS = ((HomeKind.PUBLIC, 0.25), (HomeKind.NAT, 0.25), (HomeKind.NAT_UPNP, 0.25),
            (HomeKind.DUAL_STACK, 0.25))


def test_a_network_part_is_read(write_scenario: WriteScenario) -> None:
    s = load_scenario(write_scenario(VALID_TOML + NETWORK))
    assert s.network is not None
    assert [isp.name for isp in s.network.isps] == ["east", "west"]
    assert [isp.weight for isp in s.network.isps] == [1.0, 1.0]
    assert s.network.shares == {HomeKind.PUBLIC: 0.25, HomeKind.NAT: 0.25,
                                HomeKind.NAT_UPNP: 0.25, HomeKind.DUAL_STACK: 0.25}
    assert s.network.locality is True


def test_isps_as_tables_with_weights_and_locality_off(write_scenario: WriteScenario) -> None:
    s = load_scenario(write_scenario(VALID_TOML + """\
        [network]
        locality = false
        [[network.isps]]
        name = "big"
        weight = 3
        [[network.isps]]
        name = "small"
        [network.homes]
        "v6-only" = 1
        """.replace("        ", "")))
    assert s.network is not None
    assert [(i.name, i.weight) for i in s.network.isps] == [("big", 3.0), ("small", 1.0)]
    assert s.network.shares == {HomeKind.V6_ONLY: 1.0}
    assert s.network.locality is False


def test_scenarios_without_a_network_part_have_none(write_scenario: WriteScenario) -> None:
    assert load_scenario(write_scenario(VALID_TOML)).network is None


BAD = {
    "unknown kind": (NETWORK.replace("public = 0.25", "cgnat = 0.25"),
                     "network.homes: unknown router kind 'cgnat' (known: public, nat, "),
    "shares below one": (NETWORK.replace("public = 0.25", "public = 0.2"),
                         "network.homes: the shares add up to 0.95, not 1"),
    "shares above one": (NETWORK.replace("public = 0.25", "public = 0.5"),
                         "network.homes: the shares add up to 1.25, not 1"),
    "negative share": (NETWORK.replace("public = 0.25", "public = -0.25"),
                       "network.homes.public must not be negative, got -0.25"),
    "share not a number": (NETWORK.replace("public = 0.25", 'public = "quarter"'),
                           "network.homes.public must be a number"),
    "no ISP": (NETWORK.replace('isps = ["east", "west"]', "isps = []"),
               "network.isps: at least one ISP is needed"),
    "ISPs missing": (NETWORK.replace('isps = ["east", "west"]\n', ""),
                     "network.isps is missing"),
    "duplicate ISP": (NETWORK.replace('"west"', '"east"'),
                      "network.isps: duplicate ISP name 'east'"),
    "ISP weight zero": (NETWORK.replace('isps = ["east", "west"]\n', "")
                        + '[[network.isps]]\nname = "a"\nweight = 0\n',
                        "the weight of ISP 'a' must be a finite number greater than 0"),
    "names and tables mixed": (NETWORK.replace('isps = ["east", "west"]',
                                               'isps = ["east", {name = "west"}]'),
                               "network.isps: give names or tables, not both"),
    "unknown key in network": (NETWORK.replace("[network]\n", "[network]\nlocalty = false\n"),
                               "unknown key 'network.localty'"),
    "unknown key in an ISP": (NETWORK.replace('isps = ["east", "west"]\n', "")
                              + '[[network.isps]]\nname = "a"\nshare = 1\n',
                              "unknown key 'network.isps[0].share'"),
    "homes missing": ('[network]\nisps = ["a"]\n', "network.homes is missing"),
    "homes not a table": ('[network]\nisps = ["a"]\nhomes = 1\n',
                          "network.homes must be a table"),
    "locality not a boolean": (NETWORK.replace("[network]\n", '[network]\nlocality = "on"\n'),
                               "network.locality must be true or false"),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_network_parts_are_refused_with_one_line(
    write_scenario: WriteScenario, text: str, message: str
) -> None:
    path = write_scenario(VALID_TOML + text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(path))


def test_shares_within_the_tolerance_are_accepted() -> None:
    third = 1 / 3 + 3e-7
    assert _network((HomeKind.NAT, third), (HomeKind.PUBLIC, third),
                    (HomeKind.V6_ONLY, 1 / 3)).shares[HomeKind.NAT] == third


def test_a_kind_given_twice_is_refused() -> None:
    with pytest.raises(ScenarioError, match="a router kind is given twice"):
        _network((HomeKind.NAT, 0.5), (HomeKind.NAT, 0.5))


def test_more_homes_than_the_backend_builds_is_refused_when_planning() -> None:
    pool = AddressPool("10.0.0.2", "10.0.0.3", "10.0.1.0/24", max_homes=3)
    s = make_scenario(count=4, network=_network((HomeKind.NAT, 1.0)))
    with pytest.raises(ScenarioError, match=r"network: clients.count = 4 homes \(one per "
                       r"client\) but this backend has addresses for 3 homes"):
        plan_swarm(s, pool, random.Random(1))
    assert len(plan_swarm(make_scenario(count=3, network=s.network), pool,
                          random.Random(1)).clients) == 3


def test_the_home_limit_does_not_apply_without_a_network_part() -> None:
    pool = AddressPool("10.0.0.2", "10.0.0.3", "10.0.1.0/24", max_homes=3)
    assert len(plan_swarm(make_scenario(count=4), pool, random.Random(1)).clients) == 4
    assert pool.home_capacity == 3
    assert LOOPBACK_POOL.home_capacity == LOOPBACK_POOL.capacity == 254


# --- planning -------------------------------------------------------------------------


def test_largest_remainder_gives_exact_counts() -> None:
    assert largest_remainder([0.25] * 4, 24) == [6, 6, 6, 6]
    assert largest_remainder([0.25] * 4, 10) == [3, 3, 2, 2]  # ties: the earlier first
    assert largest_remainder([0.5, 0.3, 0.2], 7) == [4, 2, 1]  # 3.5, 2.1, 1.4
    assert largest_remainder([1 / 3] * 3, 3) == [1, 1, 1]
    assert largest_remainder([3, 1], 5) == [4, 1]  # weights on any scale
    assert largest_remainder([0.0, 1.0], 4) == [0, 4]
    assert sum(largest_remainder([0.1, 0.2, 0.3, 0.4], 17)) == 17


def test_largest_remainder_refuses_nonsense() -> None:
    for weights, total in (([], 1), ([-1.0, 2.0], 1), ([0.0], 1), ([1.0], -1)):
        with pytest.raises(ValueError, match="largest_remainder"):
            largest_remainder(weights, total)


def test_spread_evenly_interleaves_in_exact_counts() -> None:
    assert spread_evenly([2, 2]) == [0, 1, 0, 1]
    assert spread_evenly([3, 1]) == [0, 0, 1, 0]
    order = spread_evenly([5, 3, 2])
    assert Counter(order) == {0: 5, 1: 3, 2: 2}
    for end in range(1, len(order) + 1):  # every prefix stays within one of its share
        for i, n in enumerate([5, 3, 2]):
            assert abs(order[:end].count(i) - n * end / 10) < 1


def test_every_client_gets_a_home_in_exact_counts_and_an_even_isp_mix() -> None:
    s = make_scenario(count=24, network=_network(*QUARTERS))
    plan = plan_swarm(s, LOOPBACK_POOL, random.Random(1))
    homes = [c.home for c in plan.clients]
    assert all(h is not None for h in homes)
    assert [h.number for h in homes if h] == list(range(1, 25))
    assert Counter(h.kind for h in homes if h) == dict.fromkeys(
        (HomeKind.PUBLIC, HomeKind.NAT, HomeKind.NAT_UPNP, HomeKind.DUAL_STACK), 6)
    # two equal ISPs, six homes of each kind: three of each kind in each ISP
    assert Counter((h.kind, h.isp) for h in homes if h) == {
        (k, isp): 3 for k, _ in QUARTERS for isp in ("east", "west")}


def test_kinds_are_shuffled_over_arrivals_by_the_seed() -> None:
    s = make_scenario(count=24, network=_network(*QUARTERS))

    def kinds(seed: int) -> list[HomeKind]:
        return [c.home.kind for c in plan_swarm(s, LOOPBACK_POOL, random.Random(seed)).clients
                if c.home]

    assert kinds(1) == kinds(1)
    assert kinds(1) != kinds(2)
    assert kinds(1) != sorted(kinds(1), key=[k for k, _ in QUARTERS].index)


def test_weighted_isps_get_their_share_and_a_fair_mix() -> None:
    network = _network((HomeKind.NAT, 0.5), (HomeKind.PUBLIC, 0.5),
                       isps=(IspSpec("big", 3), IspSpec("small", 1)))
    homes = plan_homes(network, 40, random.Random(7))
    assert Counter(h.isp for h in homes) == {"big": 30, "small": 10}
    mix = Counter((h.kind, h.isp) for h in homes)
    assert {mix[(HomeKind.NAT, "big")], mix[(HomeKind.PUBLIC, "big")]} <= {14, 15, 16}
    assert {mix[(HomeKind.NAT, "small")], mix[(HomeKind.PUBLIC, "small")]} <= {4, 5, 6}


def test_uneven_counts_split_within_one_home() -> None:
    homes = plan_homes(_network((HomeKind.NAT, 0.5), (HomeKind.DUAL_STACK, 0.5),
                                isps=(IspSpec("a"), IspSpec("b"), IspSpec("c"))),
                       10, random.Random(3))
    assert Counter(h.kind for h in homes) == {HomeKind.NAT: 5, HomeKind.DUAL_STACK: 5}
    assert sorted(Counter(h.isp for h in homes).values()) == [3, 3, 4]
    for kind in (HomeKind.NAT, HomeKind.DUAL_STACK):
        per_isp = Counter(h.isp for h in homes if h.kind is kind)
        assert max(per_isp.values()) - min(per_isp.get(i, 0) for i in "abc") <= 1


def test_homes_do_not_reshuffle_the_rest_of_the_plan() -> None:
    plain = plan_swarm(make_scenario(count=12), LOOPBACK_POOL, random.Random(5))
    homed = plan_swarm(make_scenario(count=12, network=_network(*QUARTERS)), LOOPBACK_POOL,
                       random.Random(5))
    assert [(c.arrival_s, c.link, c.quit_at_progress, c.address) for c in plain.clients] == [
        (c.arrival_s, c.link, c.quit_at_progress, c.address) for c in homed.clients]
    assert all(c.home is None for c in plain.clients)


def test_the_plan_json_names_each_client_s_home() -> None:
    plan = plan_swarm(make_scenario(count=4, network=_network(*QUARTERS)), LOOPBACK_POOL,
                      random.Random(1))
    clients = plan.to_json()["clients"]
    assert isinstance(clients, list)
    assert sorted(c["home"]["kind"] for c in clients) == sorted(k.value for k, _ in QUARTERS)
    assert Counter(c["home"]["isp"] for c in clients) == {"east": 2, "west": 2}
    assert [c["home"]["number"] for c in clients] == [1, 2, 3, 4]
    plain = plan_swarm(make_scenario(count=2), LOOPBACK_POOL, random.Random(1)).to_json()
    assert isinstance(plain["clients"], list)
    assert [c["home"] for c in plain["clients"]] == [None, None]


class _Backend:
    name = "fake"

    def __init__(self, **attributes: object) -> None:
        self.__dict__.update(attributes)


def test_only_a_backend_that_builds_homes_runs_a_network_scenario() -> None:
    homed = make_scenario(count=2, network=_network((HomeKind.NAT, 1.0)))
    for backend in (_Backend(), _Backend(supports_homes=False)):
        with pytest.raises(ScenarioError, match=r"has a \[network\] part .* which the fake "
                           r"backend cannot build: use --backend docker"):
            check_backend_can_run(homed, backend)  # type: ignore[arg-type]
    check_backend_can_run(homed, _Backend(supports_homes=True))  # type: ignore[arg-type]
    check_backend_can_run(make_scenario(count=2), _Backend())  # type: ignore[arg-type]
