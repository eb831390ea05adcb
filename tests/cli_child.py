"""``python -m tests.cli_child ARGV``: the ``enformer-tfx`` CLI as a user's shell runs it
(``pipeline.cli.main``: its console set-up, then the command), with the suite's one difference:
graphs run without Grappler (tests/graph_speed.py), switched off right after the CLI has set
TensorFlow's log level, so the console stays what a user sees."""
from __future__ import annotations

import sys

from pipeline import cli, console
from tests.graph_speed import switch_off_grappler

_configure_console = console.configure


def _configure_console_then_switch_off_grappler(verbose: int) -> None:
    _configure_console(verbose)
    switch_off_grappler()


if __name__ == "__main__":
    console.configure = _configure_console_then_switch_off_grappler
    sys.exit(cli.main())
