"""``enformer-tfx make-dataset``: the original ``src.data.make_dataset`` on the PayloadExampleGen code.

Runs the same plan + Beam transform as the TFX component (no TFX orchestration): writes the
``Split-<fold>/data_tfrecord-*.gz`` example shards and the original's TSV table
(``index name group fold activity annotation sequence``; flanks lower case).
"""
from __future__ import annotations

import argparse

from components.payload_example_gen import params


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "make-dataset",
        help="splice payloads into a locus; write TFRecord examples and the dataset table",
        description=(
            "Replace the --context interval of the reference with each payload, pad from the reference "
            "(or centre-trim) to --length bp, and write one tf.Example per payload plus the original TSV table."
        ),
    )
    parser.add_argument("activity", help="activity TSV: MenDel.Name, groups (or group), foldchange, activity")
    parser.add_argument("payloads", help="payload FASTA; names use '_' where the table has '~'")
    parser.add_argument("--annotation", help="BED of sites: payload, start, end, site name (payload coordinates)")
    parser.add_argument("--reference", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--context", required=True, help="region replaced by payloads, chr:start-end (1-based)")
    parser.add_argument("--length", type=int, default=params.DEFAULT_CONSTRUCT_LENGTH,
                        help="construct length in bp (default %(default)s = 25,600 + 1,280)")
    parser.add_argument("--window", type=int, default=params.DEFAULT_WINDOW_LENGTH,
                        help="model window length; the construct leaves length - window bp for shifts (default %(default)s)")
    parser.add_argument("--seed", type=int, default=params.DEFAULT_SEED, help="seeds split assignment (default %(default)s)")
    parser.add_argument("--folds", nargs="+", default=[f"{name}={weight}" for name, weight in params.DEFAULT_FOLDS], metavar="NAME=WEIGHT",
                        help="split ratios, e.g. train=8 eval=2 (default) or train=1")
    parser.add_argument("--kfolds", type=int, metavar="K",
                        help="k-fold cross-validation: K equal folds fold0..fold{K-1} instead of --folds "
                             "(payload split mode; train with train --kfold I --num-kfolds K)")
    parser.add_argument("--split-mode", choices=params.SPLIT_MODES, default=params.DEFAULT_SPLIT_MODE,
                        help="payload: hold out whole payloads (default); offsets: every payload in every split, "
                             "eval on fixed offsets (original protocol, leaky)")
    parser.add_argument("--records-per-shard", type=int, default=params.DEFAULT_RECORDS_PER_SHARD,
                        help="payloads per TFRecord file (default %(default)s)")
    parser.add_argument("--output", default="dataset.tsv", help="dataset table TSV (default %(default)s)")
    parser.add_argument("--examples-dir", help="TFRecord output directory (default: <output without .tsv>.examples)")
    parser.add_argument("--workers", type=int, default=1,
                        help="Beam DirectRunner worker processes (default 1; 0 = all cores)")
    parser.set_defaults(func=run)


def default_examples_dir(output: str) -> str:
    stem = output[:-4] if output.endswith(".tsv") else output
    return f"{stem}.examples"


def run(args: argparse.Namespace) -> int:
    # Heavy imports (TensorFlow, Beam) only when the command actually runs.
    from components.direct_runner import direct_pipeline
    from components.errors import InputError
    from components.outputs import atomic_outputs
    from components.payload_example_gen import constructs, transform

    if args.workers < 0:
        raise InputError(f"--workers: must be >= 0 (0 = all cores), got {args.workers}")
    folds = args.folds
    if args.kfolds is not None:
        if folds != [f"{name}={weight}" for name, weight in params.DEFAULT_FOLDS]:
            raise InputError("give --folds or --kfolds, not both")
        if args.split_mode != "payload":
            raise InputError("--kfolds holds out whole payloads: it needs --split-mode payload")
        folds = [f"{name}={weight}" for name, weight in params.kfold_folds(args.kfolds)]

    plan = constructs.plan_dataset(
        activity_tables=[args.activity],
        payload_fasta=args.payloads,
        reference_fasta=args.reference,
        context=args.context,
        annotation_bed=args.annotation,
        construct_length=args.length,
        window_length=args.window,
        seed=args.seed,
        folds=folds,
        split_mode=args.split_mode,
        records_per_shard=args.records_per_shard,
    )
    examples_dir = args.examples_dir or default_examples_dir(args.output)
    with atomic_outputs() as outputs:
        table = outputs.reserve(args.output, stream=False)
        # write_dataset publishes the Split-* directories itself (staged inside examples_dir).
        counts = transform.write_dataset(
            plan, outputs.directory(examples_dir), lambda: direct_pipeline(args.workers), table_path=table)
    summary = ", ".join(f"{split}={count}" for split, count in counts.items())
    print(f"{len(plan.payloads)} payloads ({summary}) -> {args.output}, {examples_dir}/Split-*")
    return 0
