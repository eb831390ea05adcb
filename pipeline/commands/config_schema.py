"""``enformer-tfx config-schema [--output FILE]``: JSON schema of the pipeline YAML, for editors."""
from __future__ import annotations

import argparse
import json
import os
import tempfile


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config-schema",
        help="print (or write) the JSON schema of the pipeline config YAML",
        description="The JSON schema of `enformer-tfx run/compile --config FILE` (every key, type, default "
        "and allowed value). YAML language servers use it for completion and checking, e.g. a first line "
        "`# yaml-language-server: $schema=config.schema.json` in the config file.",
    )
    parser.add_argument("--output", help="write the schema to this file instead of printing it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.config import config_json_schema

    text = json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"
    if not args.output:
        print(text, end="")
        return 0
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.replace(handle.name, args.output)
    print(f"wrote {args.output}")
    return 0
