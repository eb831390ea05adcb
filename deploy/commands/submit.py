"""``enformer-tfx submit pipeline.json --project P --region R --pipeline-root gs://...``."""
from __future__ import annotations

import argparse
import json


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``submit`` and ``schedule``: which pipeline, where, as whom."""
    parser.add_argument("pipeline", help="compiled pipeline JSON (enformer-tfx compile)")
    parser.add_argument("--project", required=True, help="Google Cloud project id")
    parser.add_argument("--region", required=True, help="Vertex AI region, e.g. us-central1")
    parser.add_argument("--pipeline-root", required=True, help="gs:// directory for the pipeline's artifacts")
    parser.add_argument("--service-account", help="service account the runs execute as")
    parser.add_argument("--network", help="VPC network to peer, projects/NUMBER/global/networks/NAME")
    parser.add_argument("--display-name", help="run display name (default: the compiled pipeline's)")
    parser.add_argument("--label", dest="labels", action="append", default=[], metavar="KEY=VALUE",
                        help="label the run (repeatable)")
    caching = parser.add_mutually_exclusive_group()
    caching.add_argument("--no-cache", dest="enable_caching", action="store_false", default=None,
                         help="disable TFX/Vertex caching for this run")
    caching.add_argument("--cache", dest="enable_caching", action="store_true",
                         help="force caching on (default: as compiled)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the request as JSON instead of sending it (no credentials or network)")


def parse_labels(pairs: list) -> dict:
    from components.errors import InputError

    labels = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--label {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        labels[key] = value
    return labels


def make_job(args: argparse.Namespace):
    labels = parse_labels(args.labels) or None  # input checks before the aiplatform import
    from deploy.vertex import pipeline_job

    return pipeline_job(
        args.pipeline, args.project, args.region, args.pipeline_root, display_name=args.display_name,
        enable_caching=args.enable_caching, labels=labels, offline=args.dry_run,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "submit",
        help="submit a compiled pipeline to Vertex AI Pipelines (aiplatform.PipelineJob)",
        description="Create one Vertex AI pipeline run from pipeline.json. --dry-run prints the "
        "CreatePipelineJobRequest instead.",
    )
    add_job_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deploy.vertex import submit, submit_request

    job = make_job(args)
    if args.dry_run:
        print(json.dumps(submit_request(job, args.service_account, args.network), indent=2, sort_keys=True))
        return 0
    print(f"submitted {submit(job, args.service_account, args.network)}")
    return 0
