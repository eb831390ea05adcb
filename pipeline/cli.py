"""The ``enformer-tfx`` command line: one entry point, one subcommand per module.

Subcommands live in :mod:`pipeline.commands` (one module each, discovered here), so adding a
command never edits this file. User-input problems (:class:`components.genome.InputError`) are
printed as a single ``error: ...`` line with exit status 2 and no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from typing import List, Optional

from components.errors import InputError
from pipeline import commands


def build_parser() -> argparse.ArgumentParser:
    """Parser with every subcommand found in :mod:`pipeline.commands`."""
    parser = argparse.ArgumentParser(
        prog="enformer-tfx",
        description="Fine-tune Enformer on synthetic regulatory payload assays with TFX.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
