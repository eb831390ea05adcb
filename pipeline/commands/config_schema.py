"""``enformer-tfx config-schema [--output FILE]``: JSON schema of the pipeline YAML, for editors."""
from __future__ import annotations

import argparse
import json


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
    from components.outputs import atomic_output
    from pipeline.config import config_json_schema

    text = json.dumps(config_json_schema(), indent=2, sort_keys=True) + "\n"
    if not args.output:
        print(text, end="")
        return 0
    with atomic_output(args.output) as path, open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(f"wrote {args.output}")
    return 0
