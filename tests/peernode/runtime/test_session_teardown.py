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
import socket
import subprocess
import sys

from peernode.runtime.session_teardown import TcpSocket, accepted_inodes, own_tcp_sockets

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


def test_this_process_s_tcp_sockets_are_found_with_their_ports_and_state() -> None:
    """A listener, a connection accepted on its port, the outgoing one to it: seen with
    their local ports; a UDP socket and a socket pair are not TCP and are left out."""
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as outgoing, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        accepted, _ = server.accept()
        pair = socket.socketpair()
        try:
            udp.bind(("127.0.0.1", 0))
            own = own_tcp_sockets()
            assert own is not None
            rows = {row.inode: row for row, _fd in own.values()}
            by_fd = {fd: row for row, fd in own.values()}
            port = server.getsockname()[1]
            assert by_fd[server.fileno()] == TcpSocket(port, True, by_fd[server.fileno()].inode)
            assert by_fd[accepted.fileno()].local_port == port
            assert not by_fd[accepted.fileno()].listening
            assert by_fd[outgoing.fileno()].local_port == outgoing.getsockname()[1]
            assert udp.fileno() not in by_fd
            assert pair[0].fileno() not in by_fd
            assert accepted_inodes(rows.values(), {port}) == (
                True, {by_fd[accepted.fileno()].inode})
        finally:
            accepted.close()
            pair[0].close()
            pair[1].close()


def test_only_connections_accepted_on_the_session_s_ports_are_shut_down() -> None:
    """Accepted on port 0xA001: 102 and 104. Not 103 (an outgoing connection *to* that
    port, from an ephemeral port), not the listener, not a socket of inode 0."""
    rows = [TcpSocket(0xA001, True, 101), TcpSocket(0xA001, False, 102),
            TcpSocket(0xC351, False, 103), TcpSocket(0xA001, False, 0),
            TcpSocket(0xA001, False, 104)]
    assert accepted_inodes(rows, {0xA001}) == (True, {102, 104})
    assert accepted_inodes(rows, {0xB000}) == (False, set())
