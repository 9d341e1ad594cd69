"""The lab itself: NAT keeps strangers out, UPnP/NAT-PMP mappings let them in, IPv6 is
routed, and every namespace goes away afterwards (crashed runs' too)."""

from __future__ import annotations

import json
import subprocess

import pytest
import trio

from sim.netlab import HomeKind, Lab, open_lab, sweep_leftovers
from sim.netlab.commands import lab_unavailable, run
from tests.netlab.helpers import REPO, can_connect, listener, module_argv, read_line

pytestmark = [pytest.mark.netlab, pytest.mark.timeout(60)]


async def test_nat_client_reaches_the_internet_but_cannot_be_reached(lab: Lab) -> None:
    host = lab.add_host("server")
    home = lab.add_home("home", HomeKind.NAT)
    async with listener(host, host.v4, 8000) as proc:
        assert await can_connect(home.client, host.v4, 8000)
        assert proc.stdout is not None
        # The server sees the router's address: the client is masqueraded.
        assert await read_line(proc.stdout) == f"accepted {home.router.v4}"
    async with listener(home.client, "0.0.0.0", 8001):
        assert not await can_connect(host, home.router.v4, 8001)
        assert not await can_connect(host, home.client.v4, 8001)
        # ...while its own LAN reaches it: the listener is there.
        assert await can_connect(home.router, home.client.v4, 8001)


@pytest.mark.parametrize("protocol", ["natpmp", "upnp"])
async def test_libtorrent_maps_a_port_and_an_outside_host_connects_in(
        lab: Lab, protocol: str) -> None:
    outside = lab.add_host("outside")
    home = lab.add_home("home", HomeKind.NAT_UPNP)
    proc = await trio.lowlevel.open_process(
        module_argv(home.client, "tests.netlab.portmap", "--listen-port", "40001",
                    f"--{protocol}"), cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        result = json.loads(await read_line(proc.stdout, timeout_s=30))
        assert result.get("protocol") == protocol, result
        assert await can_connect(outside, home.router.v4, int(result["external_port"]))
    finally:
        proc.kill()
        await proc.wait()


async def test_ipv6_is_routed_to_dual_stack_and_v6_only_homes(lab: Lab) -> None:
    host = lab.add_host("server")
    dual = lab.add_home("dual", HomeKind.DUAL_STACK)
    v6 = lab.add_home("v6", HomeKind.V6_ONLY)
    assert v6.client.ipv4 is None
    async with listener(dual.client, "::", 8002):
        assert await can_connect(v6.client, dual.client.v6, 8002)
        assert await can_connect(host, dual.client.v6, 8002)
    assert not await can_connect(v6.client, host.v4, 8003, timeout_s=1)


def _lab_namespaces(prefix: str) -> list[str]:
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines()
            if line.startswith(prefix + "-")]


def test_every_namespace_is_deleted_on_exit_and_on_error() -> None:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    prefix = "pnteardown"
    with open_lab(prefix) as lab:
        lab.add_home("home", HomeKind.NAT)
        mine = _lab_namespaces(lab.prefix)
        assert len(mine) == 3
    assert _lab_namespaces(lab.prefix) == []
    failing: list[str] = []

    def build_and_fail() -> None:
        with open_lab(prefix) as lab:
            failing.append(lab.prefix)
            lab.add_home("home", HomeKind.PUBLIC)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        build_and_fail()
    assert _lab_namespaces(failing[0]) == []


def test_a_crashed_runs_namespaces_are_swept_and_a_live_runs_kept() -> None:
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    prefix = "pnsweep"
    dead = f"{prefix}-4999999-1-inet"  # above any pid_max: that run is gone
    run(["ip", "netns", "add", dead])
    try:
        with open_lab(prefix) as lab:
            assert dead not in _lab_namespaces(prefix)
            assert sweep_leftovers(prefix) == []
            assert _lab_namespaces(lab.prefix) == [lab.inet.name]
    finally:
        run(["ip", "netns", "del", dead], check=False)
