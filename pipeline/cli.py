"""The ``enformer-tfx`` command line: one entry point, one subcommand per module.

Subcommands live in :mod:`pipeline.commands` and in the packages registered under the
``enformer_tfx.commands`` entry-point group (``deploy.commands``: compile, submit, schedule), one
module each, discovered here; adding a command never edits this file and ``pipeline`` never
imports ``deploy``. User-input problems (:class:`components.errors.InputError`, including
:class:`~components.errors.OutputError` for unwritable outputs) and ``OSError`` naming a file
are printed as a single ``error: ...`` line with exit status 2 and no traceback; other
exceptions are bugs and keep their traceback. What reaches the console, and the log file
behind it, is set up by :mod:`pipeline.console` (global ``-v``/``-vv``).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from importlib.metadata import entry_points
from types import ModuleType
from typing import List, Optional

from components.errors import InputError
from pipeline import commands, console

COMMAND_GROUP = "enformer_tfx.commands"


def command_packages() -> List[ModuleType]:
    """:mod:`pipeline.commands` plus every package registered under :data:`COMMAND_GROUP`.

    A registered package that cannot be imported (a stale install) is reported and skipped, so
    the other commands keep working.
    """
    packages = [commands]
    for entry in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        try:
            packages.append(entry.load())
        except ImportError as error:
            print(f"warning: commands {entry.value!r} ({COMMAND_GROUP}:{entry.name}) not loaded: {error}",
                  file=sys.stderr)
    return packages


def build_parser() -> argparse.ArgumentParser:
    """Parser with every subcommand found in :mod:`pipeline.commands`."""
    parser = argparse.ArgumentParser(
        prog="enformer-tfx",
        description="Fine-tune Enformer on synthetic regulatory payload assays with TFX.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: every library's INFO log on the console; -vv: DEBUG")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    modules = [f"{package.__name__}.{info.name}" for package in command_packages()
               for info in pkgutil.iter_modules(package.__path__)]
    for name in sorted(modules, key=lambda module: module.rsplit(".", 1)[1]):
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit status."""
    console.silence_library_warnings()
    args = build_parser().parse_args(argv)
    console.configure(args.verbose)  # before any command imports TensorFlow
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.filename is None:  # no path to blame: a bug, keep the traceback
            raise
        print(f"error: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
