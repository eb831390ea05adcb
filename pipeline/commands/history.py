"""``enformer-tfx history --config FILE``: the loop's rounds, read from ML Metadata."""
from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "history",
        help="list the pipeline's rounds (metrics, blessing, pushed version) from ML Metadata",
        description="One row per local pipeline run: run id, data span(s), model artifact id, warm-start "
        "parent (model id), held-out Pearson r, Spearman rho, MSE, blessed, pushed version and whether "
        "the evaluation was cached from an earlier run. Read from the config's ML Metadata (SQLite).",
    )
    parser.add_argument("--config", required=True, help="pipeline YAML used for `enformer-tfx run`")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, as for `run`")
    parser.add_argument("--json", action="store_true", help="print the rounds as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from components.errors import InputError
    from pipeline.config import load_config

    config = load_config(args.config, args.overrides)
    if not os.path.exists(config.metadata_path):
        raise InputError(f"{config.metadata_path}: no ML Metadata yet; run `enformer-tfx run --config {args.config}` first")
    from pipeline.history import format_rounds, open_store, read_rounds, rounds_json

    rounds = read_rounds(open_store(config.metadata_path), config.pipeline_name)
    print(rounds_json(rounds) if args.json else format_rounds(rounds))
    return 0
