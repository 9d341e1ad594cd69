"""The progress view: rich on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import io

from sim.live_progress import SwarmProgressView, SwarmSnapshot

SNAP = SwarmSnapshot(elapsed_s=6.0, clients=4, waiting=1, downloading=2,
                     done={"complete": 1}, progress=0.5, bytes_from_origin=2_000_000,
                     bytes_from_peers=6_000_000)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with SwarmProgressView("sim t", out, every_s=5.0) as view:
        view.show(SwarmSnapshot(0.0, 4, 4, 0, {}, 0.0, 0, 0))
        view.show(SwarmSnapshot(2.0, 4, 4, 0, {}, 0.0, 0, 0))  # too soon for a line
        view.show(SNAP)
        view.say("event")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[1] == ("sim t:    6.0 s  50.0%  waiting 1  downloading 2  complete 1  "
                        "from origin 2.0 MB  from peers 6.0 MB")
    assert lines[2] == "event"


def test_a_bar_on_a_terminal() -> None:
    out = Terminal()
    with SwarmProgressView("sim t", out) as view:
        view.show(SNAP)
        view.say("event")
    text = out.getvalue()
    assert "sim t" in text
    assert "event" in text
    assert "complete 1" in text
