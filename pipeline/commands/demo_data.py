"""``enformer-tfx demo-data OUTDIR``: deterministic synthetic genome, payload assay and tracks."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write deterministic synthetic demo data (reference, payloads, activity, bigWigs)",
        description="Write a synthetic reference FASTA, payload FASTA + activity table + annotation "
        "BED, bigWig tracks + tracks.tsv and mappable.bed. Labels are a documented hidden function "
        "of sequence (see pipeline/demo_data.py). Same --seed and --scale give byte-identical files.",
    )
    parser.add_argument("outdir", help="output directory (created)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--scale", type=float, default=1.0, help="size factor: 1.0 = ~200 payloads, 1.8 Mb genome")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.demo_data import generate_demo_data

    manifest = generate_demo_data(args.outdir, seed=args.seed, scale=args.scale)
    print(f"demo data in {args.outdir}: {manifest['n_payloads']} payloads, context {manifest['context']}")
    return 0
