"""``enformer-tfx schedule pipeline.json --cron "0 3 * * 1" ...``: recurring Vertex AI runs."""
from __future__ import annotations

import argparse
import json

from deploy.commands.submit import add_job_arguments, make_job


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="create a Vertex AI pipeline schedule (PipelineJob.create_schedule)",
        description="Run pipeline.json on a cron schedule, e.g. weekly retraining on the newest assay "
        "batch. Each run ingests the latest span, warm-starts from the latest blessed model and "
        "pushes only if the new model is blessed. --dry-run prints the CreateScheduleRequest.",
    )
    add_job_arguments(parser)
    parser.add_argument("--cron", required=True,
                        help='cron expression, optionally "TZ=Europe/London 0 3 * * 1"')
    parser.add_argument("--schedule-name", help="schedule display name (default: <pipeline>-schedule)")
    parser.add_argument("--start-time", help="RFC 3339 time of the first possible run")
    parser.add_argument("--end-time", help="RFC 3339 time after which no runs start")
    parser.add_argument("--max-run-count", type=int, help="stop after this many runs")
    parser.add_argument("--max-concurrent-run-count", type=int, default=1,
                        help="runs at the same time (default 1: retraining runs never overlap)")
    parser.add_argument("--allow-queueing", action="store_true",
                        help="queue a due run while one is active instead of skipping it")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from deploy.vertex import create_schedule, schedule_request

    job = make_job(args)
    options = dict(
        start_time=args.start_time, end_time=args.end_time, max_run_count=args.max_run_count,
        max_concurrent_run_count=args.max_concurrent_run_count, allow_queueing=args.allow_queueing,
        service_account=args.service_account, network=args.network,
    )
    if args.dry_run:
        request = schedule_request(job, args.cron, args.schedule_name, **options)
        print(json.dumps(request, indent=2, sort_keys=True))
        return 0
    print(f"created schedule {create_schedule(job, args.cron, args.schedule_name, **options)}")
    return 0
