"""A node on every interface that is left with no listen socket opens them again at once.

libtorrent closes the sockets of every address a re-reading of the interfaces did not
find; a reading that finds none (here: every interface down for a moment) leaves the
node with no socket at all, so no peer could reach it until the next periodic reading
(30 s). The node runs in a network namespace of its own (root), where taking the
interfaces down is harmless.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import logging, subprocess, sys, time
    import trio
    from peernode.runtime.node import NodeConfig, open_node

    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")

    def ip(*argv):
        subprocess.run(["ip", *argv], check=True)

    async def main():
        async with open_node(NodeConfig(listen_host="::", listen_port=0,
                                        port_mapping=False)) as node:
            session = node.session
            port = session.ssl_listen_port()
            print("listening", port, flush=True)
            ip("link", "set", "lo", "down")
            session.reopen_network_sockets(0)  # what the periodic re-reading does
            for _ in range(50):
                if session.ssl_listen_port() == 0:
                    break
                await trio.sleep(0.05)
            print("lost", session.ssl_listen_port() == 0, flush=True)
            ip("link", "set", "lo", "up")
            started = time.monotonic()
            with trio.move_on_after(10):
                while session.ssl_listen_port() == 0:
                    await trio.sleep(0.05)
            print("back", session.ssl_listen_port(), round(time.monotonic() - started, 2),
                  flush=True)
            await trio.sleep(1.5)  # the next check says so

    trio.run(main)
""")


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (a network namespace)"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    return None


def test_a_node_left_with_no_listen_socket_opens_them_again_within_seconds() -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    netns = f"pnlisten{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", _SCRIPT],
                              capture_output=True, text=True, timeout=60, check=False)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    port = int(next(line for line in lines if line.startswith("listening")).split()[1])
    assert port > 0
    assert "lost True" in lines, done.stdout  # the bad case happened
    assert any(line.startswith("no listen socket left") for line in lines), done.stdout
    back = next(line for line in lines if line.startswith("back")).split()
    assert int(back[1]) == port, done.stdout  # the same port, which peers and tracker know
    assert float(back[2]) < 5.0, done.stdout  # within the check's second, not 30 s
    assert any(line.startswith("listen sockets open again") for line in lines), done.stdout
