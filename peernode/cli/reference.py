"""docs/cli.md, generated from the parser itself so the reference never drifts from the code.

    python -m peernode.cli.reference > docs/cli.md

`tests/test_cli_reference.py` fails when the file is out of date.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator

from peernode.cli.main import build_parser

__all__ = ["render_reference"]

_WIDTH = "100"

_PREAMBLE = """# The `peernode` command line

Operators script these commands, the simulator drives them and download clients call
them, so their names and flags are a contract: options are added, never renamed or
dropped. Every command exits 0 on success; on bad input or a refused credential it
prints one `error: ...` line on stderr and exits non-zero, never with a traceback.
Private keys are written with mode 0600 and every file atomically (temp file + rename).
RATE values take bytes/s or a suffix (`500K`, `4M`, `1G`); HOST:PORT takes `[V6]:PORT`.

This page is generated from the parser (`python -m peernode.cli.reference > docs/cli.md`).
"""


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", p) for n, p in _subcommands(sub))


def render_reference() -> str:
    """The whole reference as Markdown: every command's ``--help``, in parser order."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH  # argparse wraps help to the terminal's width
    try:
        parser = build_parser()
        parts = [_PREAMBLE, "```", parser.format_help().rstrip(), "```", ""]
        for name, sub in _subcommands(parser):
            parts += [f"## `peernode {name}`", "", "```", sub.format_help().rstrip(), "```", ""]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


if __name__ == "__main__":
    print(render_reference(), end="")
