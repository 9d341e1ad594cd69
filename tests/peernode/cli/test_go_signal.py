"""`peernode fetch --wait-go`: the node waits, loaded, until the host's go signal."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from peernode.cli.go_signal import wait_for_go
from peernode.errors import PeernodeError
from sim.backends.docker_go import GoSignal


async def test_a_node_waits_for_the_go_line_then_says_when_it_came(tmp_path: Path) -> None:
    go = GoSignal(tmp_path / "go")
    go.create()
    went: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: _wait(go.path, went))
        while not go.waiting:
            await trio.sleep(0.01)
        await trio.sleep(0.05)
        assert not went  # waiting, no line yet
        # the marker exists only once the FIFO has a reader: the first release lands
        assert go.release()
    assert went
    assert go.started_unix() == pytest.approx(went[0], abs=1e-5)


async def _wait(path: Path, went: list[float]) -> None:
    went.append(await wait_for_go(path))


async def test_a_go_signal_that_is_no_fifo_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "go").write_text("")
    with pytest.raises(PeernodeError, match="is not a FIFO"):
        await wait_for_go(tmp_path / "go")
    with pytest.raises(PeernodeError, match="cannot open the go signal"):
        await wait_for_go(tmp_path / "missing")
