"""The ``docker`` command, run to completion, and the labels that find a run's objects.

Every container and network of a docker run carries `LABEL` (the run's id) and
`WORKDIR_LABEL` (its workdir); `remove_labelled` removes all of a run's, whatever
started them.
"""

from __future__ import annotations

from collections.abc import Sequence

import trio

from sim.errors import BackendError

__all__ = ["DOCKER_TIMEOUT_S", "LABEL", "SUBNET_WAIT_S", "WORKDIR_LABEL", "create_network",
           "docker", "remove_labelled"]

LABEL = "peernode.sim"
"""Every container and network of a run carries this label (value: the run's id)."""
WORKDIR_LABEL = "peernode.sim.workdir"
"""... and this one (value: the run's workdir), to tell runs on one machine apart."""
DOCKER_TIMEOUT_S = 60.0


async def docker(*args: str, check: bool = True) -> str:
    """Run ``docker ARGS`` to completion and return its stdout; `BackendError` on failure."""
    try:
        with trio.fail_after(DOCKER_TIMEOUT_S):
            done = await trio.run_process(["docker", *args], capture_stdout=True,
                                          capture_stderr=True, check=False)
    except FileNotFoundError:
        raise BackendError("the docker command is not installed") from None
    except trio.TooSlowError:
        raise BackendError(f"docker {args[0]} did not answer within "
                           f"{DOCKER_TIMEOUT_S:.0f} s") from None
    if check and done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackendError(f"docker {args[0]} failed: {why[-1] if why else done.returncode}")
    return done.stdout.decode(errors="replace")


_NETWORK_RM_TRIES = 5


async def remove_labelled(run_id: str) -> None:
    """Remove every container, network and volume labelled with ``run_id``."""
    selector = f"label={LABEL}={run_id}"
    ids = (await docker("ps", "-aq", "--filter", selector, check=False)).split()
    if ids:
        await docker("rm", "-f", "-v", *ids, check=False)
    # under load docker may still be releasing a removed container's endpoint: try again
    for attempt in range(_NETWORK_RM_TRIES):
        nets = (await docker("network", "ls", "-q", "--filter", selector, check=False)).split()
        if not nets:
            break
        if attempt:
            await trio.sleep(2.0)
        await docker("network", "rm", *nets, check=False)
    vols = (await docker("volume", "ls", "-q", "--filter", selector, check=False)).split()
    if vols:
        await docker("volume", "rm", "-f", *vols, check=False)


SUBNET_WAIT_S = 180.0
"""How long a run waits for another run on this machine to release its subnets."""


async def create_network(name: str, options: Sequence[str], labels: Sequence[str], *,
                         wait_s: float = SUBNET_WAIT_S) -> None:
    """``docker network create OPTIONS`` with ``labels``; while another run holds one of
    its subnets (the planned addresses need them), wait for it up to ``wait_s``."""
    argv = ["network", "create", *options]
    for label in labels:
        argv += ["--label", label]
    with trio.move_on_after(wait_s):
        while True:
            try:
                await docker(*argv, name)
            except BackendError as e:
                if "overlap" not in str(e):
                    raise
                await trio.sleep(1.0)
                continue
            return
    raise BackendError(f"the subnets of docker network {name} stayed in use by another "
                       f"docker network for {wait_s:.0f} s (another simulation running here?)")
