"""A session destroyed with incoming TLS handshakes pending must not crash the process.

libtorrent 2.1.1 frees such sockets in ``session_impl::abort`` while their cancelled
handshake handlers are still queued, and the handler then runs on freed memory (the
suite's exit 139). The scenario runs in a child process, so that a crash fails one test
instead of killing the suite; glibc's tcache off and ``MALLOC_PERTURB_`` make the freed
memory garbage at once, so the use-after-free crashes every time instead of now and then.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

from peernode.runtime.session_teardown import TcpSocket, accepted_inodes, parse_proc_net_tcp

# Probes connect to the SSL port and say nothing: the session's handshakes wait for them.
_SCENARIO = """
import socket, sys, time
import trio
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.session_settings import make_session

def probes(port):
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]

async def node_closes_with_probes_connected():
    async with open_node(NodeConfig(listen_host=sys.argv[2], port_mapping=False)) as node:
        held = probes(node.ssl_port)
        await trio.sleep(0.2)
    del node  # the last reference: the session is destroyed here
    assert all(s.recv(1) == b"" for s in held), "a probe was not disconnected"

def bare_session_destroyed_with_probes_connected():
    session = make_session("127.0.0.1")
    held = probes(session.ssl_listen_port())
    time.sleep(0.2)
    del session

if sys.argv[1] == "node":
    for _ in range(3):
        trio.run(node_closes_with_probes_connected)
else:
    bare_session_destroyed_with_probes_connected()
print("closed")
"""

_PERTURBED_MALLOC = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "MALLOC_PERTURB_": "165"}


def _no_core_file() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _SCENARIO, *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **_PERTURBED_MALLOC},
                          preexec_fn=_no_core_file)


def test_the_crash_is_libtorrent_s_and_reproduces_here() -> None:
    """The bad case: a bare session destroyed mid-handshake dies of SIGSEGV (if this
    starts passing, a libtorrent release fixed abort() and session_teardown can go)."""
    proc = _run("bare")
    assert proc.returncode == -signal.SIGSEGV, (proc.returncode, proc.stderr[-2000:])


def test_a_node_closing_with_handshakes_pending_does_not_crash() -> None:
    for host in ("127.0.0.1", "::"):
        proc = _run("node", host)
        assert proc.returncode == 0, (host, proc.returncode, proc.stderr[-2000:])
        assert proc.stdout.strip() == "closed"


_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:A001 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1
   1: 0100007F:A001 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 102 1
   2: 0100007F:C351 0100007F:A001 01 00000000:00000000 00:00000000 00000000     0        0 103 1
   3: 0100007F:A001 0100007F:C352 06 00000000:00000000 03:00000000 00000000     0        0 0 3
"""
_TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:A001 00000000000000000000000001000000:C353 01 00000000:00000000 00:00000000 00000000     0        0 104 1
"""  # noqa: E501


def test_proc_net_tcp_rows_are_read_with_hex_ports_and_states() -> None:
    assert parse_proc_net_tcp(_TCP)[:2] == [TcpSocket(0xA001, True, 101),
                                            TcpSocket(0xA001, False, 102)]
    assert parse_proc_net_tcp(_TCP6) == [TcpSocket(0xA001, False, 104)]


def test_only_connections_accepted_on_the_session_s_ports_are_shut_down() -> None:
    """Accepted on port 0xA001: 102 and 104. Not 103 (an outgoing connection *to* that
    port), not the listener, not a TIME_WAIT row (inode 0: no socket owns it)."""
    rows = parse_proc_net_tcp(_TCP) + parse_proc_net_tcp(_TCP6)
    assert accepted_inodes(rows, {0xA001}) == (True, {102, 104})
    assert accepted_inodes(rows, {0xB000}) == (False, set())
