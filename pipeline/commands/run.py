"""``enformer-tfx run --config FILE``: run the TFX pipeline locally (BeamDagRunner by default)."""
from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the TFX pipeline locally (BeamDagRunner, SQLite ML Metadata)",
        description="Run create_pipeline(config) locally. Components whose inputs did not change "
        "are cached. Prints one line per component (ran or cached, wall time), progress bars, the "
        "evaluation summary and where the blessed model was pushed; the full log goes to "
        "PIPELINE_ROOT/logs/<UTC time>.log (path printed at start and end).",
    )
    parser.add_argument("--config", required=True, help="pipeline YAML (see pipeline/configs/demo.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set training.epochs=3 (repeatable)")
    parser.add_argument("--runner", choices=["beam", "local"], help="override config.runner")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config

    overrides = list(args.overrides) + ([f"runner={args.runner}"] if args.runner else [])
    config = load_config(args.config, overrides)  # before TFX/TensorFlow load: a typo fails fast
    from components.outputs import atomic_outputs

    with atomic_outputs() as outputs:  # unwritable locations fail here, as one error line
        for directory in (config.pipeline_root, os.path.dirname(config.metadata_path), config.push.destination):
            if "://" not in directory:
                outputs.directory(directory)
    from pipeline import console

    local_root = "://" not in config.pipeline_root
    log_path = console.open_log_file(os.path.join(config.pipeline_root, "logs")) if local_root else None
    if log_path:
        print(f"full log: {log_path}", flush=True)
    try:
        from pipeline.pipeline import run_locally
        from pipeline.report import print_run_summary

        run_locally(config)
        return print_run_summary(config)
    finally:
        console.close_log_file()
        if log_path:
            print(f"full log: {log_path}", flush=True)
