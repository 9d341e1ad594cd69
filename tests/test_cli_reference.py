"""docs/cli.md is the parser's own help, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from peernode.cli.reference import render_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_docs_cli_md_is_up_to_date() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/cli.md is stale: run `python -m peernode.cli.reference > docs/cli.md`"
    )
