"""docs/cli.md is the parser's own help, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from peernode.cli.reference import render_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_docs_cli_md_is_up_to_date() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/cli.md is stale: run `python -m peernode.cli.reference > docs/cli.md`"
    )


def test_each_command_is_registered_by_the_module_the_lazy_table_names() -> None:
    import argparse

    from peernode.cli.main import COMMAND_MODULES, build_parser

    def commands(parser: argparse.ArgumentParser) -> list[str]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return list(sub.choices)

    assert commands(build_parser()) == list(COMMAND_MODULES)
    for command in COMMAND_MODULES:
        assert command in commands(build_parser(command))


def test_a_single_command_run_does_not_import_the_others() -> None:
    import subprocess
    import sys

    code = ("import sys; from peernode.cli.main import build_parser; build_parser('fetch'); "
            "print(sorted(m for m in ('sim.cli', 'peernode.daemon.server', "
            "'certs.authority.cli') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "[]"
