"""Running ``ip``, ``nft``, ``tc`` and programs inside network namespaces.

Every command of the lab goes through here, so a failure names the command and
its stderr. Blocking (subprocess): the lab is built and torn down synchronously.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from sim.errors import BackendError

__all__ = ["in_netns", "lab_unavailable", "run", "run_in"]

_TOOLS = ("ip", "nft", "tc")
_UPNP_TOOLS = ("miniupnpd", "stund")


def run(argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run ``argv``; its stdout. `BackendError` (with stderr) if it fails and ``check``."""
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, check=False, timeout=30
    )
    if check and done.returncode != 0:
        raise BackendError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def in_netns(netns: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside namespace ``netns`` (``ip netns exec``, which execs,
    so the child's pid is the program's own and signals reach it)."""
    return ["ip", "netns", "exec", netns, *argv]


def run_in(netns: str, argv: Sequence[str], *, stdin: str | None = None,
           check: bool = True) -> str:
    """`run` ``argv`` inside ``netns``."""
    return run(in_netns(netns, argv), stdin=stdin, check=check)


def lab_unavailable(*, upnp: bool = False) -> str | None:
    """Why a lab cannot be built here (not root, a tool missing), or None if it can.

    ``upnp``: also require miniupnpd and stund (the `nat-upnp` homes)."""
    if os.geteuid() != 0:
        return "the network lab needs root (network namespaces)"
    tools = _TOOLS + (_UPNP_TOOLS if upnp else ())
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return f"the network lab needs {', '.join(missing)} (see .ci/run's Debian packages)"
    probe = f"pnlab-probe-{os.getpid()}"
    try:
        run(["ip", "netns", "add", probe])
    except BackendError as e:
        return f"ip netns is unavailable here: {e}"
    run(["ip", "netns", "del", probe], check=False)
    return None
