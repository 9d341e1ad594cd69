"""The ``docker`` command, run to completion, and the labels that find a run's objects.

Every container and network of a docker run carries `LABEL` (the run's id) and
`WORKDIR_LABEL` (its workdir); `remove_labelled` removes all of a run's, whatever
started them, and `remove_orphaned_runs` those of runs whose workdir is gone (a run
killed before its teardown finished, whose networks would hold their subnets for good).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import trio

from sim.errors import BackendError

__all__ = ["DOCKER_TIMEOUT_S", "LABEL", "SUBNET_WAIT_S", "WORKDIR_LABEL", "create_network",
           "docker", "remove_labelled", "remove_orphaned_runs"]

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


_NETWORK_RM_S = 10.0
"""How long a teardown keeps trying to remove its networks (under load dockerd may still
be releasing a removed container's endpoint). A network dockerd counts endpoints on with
none attached (moby/moby#42119, seen after a 72-home run was interrupted) is never freed
until dockerd restarts: `remove_orphaned_runs` reports it with the rest."""


async def remove_labelled(run_id: str, *, network_wait_s: float = _NETWORK_RM_S) -> None:
    """Remove every container, network and volume labelled with ``run_id``, trying the
    networks again for up to ``network_wait_s``."""
    selector = f"label={LABEL}={run_id}"
    ids = (await docker("ps", "-aq", "--filter", selector, check=False)).split()
    if ids:
        await docker("rm", "-f", "-v", *ids, check=False)
    # under load docker may still be releasing a removed container's endpoint: try again
    deadline = trio.current_time() + network_wait_s
    while True:
        nets = (await docker("network", "ls", "-q", "--filter", selector, check=False)).split()
        if not nets:
            break
        await docker("network", "rm", *nets, check=False)
        if trio.current_time() + 2.0 > deadline:
            break
        await trio.sleep(2.0)
    vols = (await docker("volume", "ls", "-q", "--filter", selector, check=False)).split()
    if vols:
        await docker("volume", "rm", "-f", *vols, check=False)


async def remove_orphaned_runs() -> list[str]:
    """Remove every labelled run whose workdir no longer exists (its owner is gone: a
    live run keeps its workdir until its teardown is over); returns their run ids."""
    listed = await docker("network", "ls", "--filter", f"label={LABEL}", "--format",
                          f'{{{{.Label "{LABEL}"}}}} {{{{.Label "{WORKDIR_LABEL}"}}}}',
                          check=False)
    orphans = sorted({run_id for run_id, _, workdir in
                      (line.partition(" ") for line in listed.splitlines())
                      if run_id and workdir and not os.path.isdir(workdir)})
    for run_id in orphans:  # one try each: a network dockerd cannot free (moby#42119:
        # "has active endpoints" with none) must not hold up the others
        await remove_labelled(run_id, network_wait_s=0)
    return orphans


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
        orphans_removed = False
        while True:
            try:
                await docker(*argv, name)
            except BackendError as e:
                if "overlap" not in str(e):
                    raise
                if not orphans_removed:  # left by a run killed mid-teardown?
                    orphans_removed = True
                    if await remove_orphaned_runs():
                        continue
                await trio.sleep(1.0)
                continue
            return
    raise BackendError(f"the subnets of docker network {name} stayed in use by another "
                       f"docker network for {wait_s:.0f} s (another simulation running here?)")
