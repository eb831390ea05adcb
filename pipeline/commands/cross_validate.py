"""``enformer-tfx cross-validate OUTDIR DATASET.tsv --num-kfolds K``: k-fold cross-validation.

On a ``make-dataset --kfolds K`` dataset, trains the K fold models exactly as
``train --kfold i --num-kfolds K`` (into ``OUTDIR/fold<i>/``, resumable), predicts every payload
of fold ``i`` with fold model ``i`` on its centred window (the window serving uses), and reports
the cross-validated Pearson r / Spearman rho of those out-of-fold predictions with the per-fold
spread: ``OUTDIR/cv/predictions.tsv`` + ``scatter.png`` (the evaluation report's format),
``OUTDIR/cv/folds.tsv`` and ``OUTDIR/cv/summary.json``.
"""
from __future__ import annotations

import argparse

from pipeline.commands.train import add_training_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cross-validate",
        help="train the K fold models of a make-dataset --kfolds K dataset; out-of-fold r / rho",
        description="Train fold model i on every fold but i (as train --kfold i), predict fold i's payloads on "
                    "their centred window with it, and report the cross-validated Pearson r / Spearman rho of "
                    "the out-of-fold predictions with the per-fold spread.",
    )
    parser.add_argument("outdir", help="work directory: OUTDIR/fold<i>/ per fold model, OUTDIR/cv/ the report "
                                       "(rerun to resume)")
    parser.add_argument("dataset", help="make-dataset --kfolds table (TSV; its <name>.examples directory beside it)")
    parser.add_argument("--num-kfolds", type=int, required=True, metavar="K", help="folds of the dataset")
    parser.add_argument("--predict-batch", type=int, default=4, help="windows per prediction call (default %(default)s)")
    add_training_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import glob
    import os

    from components.errors import InputError
    from components.payload_example_gen.params import KFOLD_PREFIX
    from pipeline.commands.make_dataset import default_examples_dir
    from pipeline.commands.train import fold_patterns, training_configs

    if not args.dataset.endswith(".tsv"):
        raise InputError(f"{args.dataset}: pass the make-dataset table (.tsv); its .examples directory is found "
                         "beside it")
    if args.predict_batch < 1:
        raise InputError(f"--predict-batch must be >= 1, got {args.predict_batch}")
    examples = default_examples_dir(args.dataset)
    patterns = [fold_patterns(examples, i, args.num_kfolds) for i in range(args.num_kfolds)]
    model_config, training = training_configs(args)

    from components.cross_validation.report import summary_line, write_cross_validation_report
    from components.evaluation_report.report import predict_payloads
    from components.outputs import atomic_outputs
    from trainer.checkpoints import SERVING_SUBDIR
    from trainer.run import train_payload_model

    folds = [f"{KFOLD_PREFIX}{i}" for i in range(args.num_kfolds)]
    tables, last_valid_r = [], []
    with atomic_outputs() as outputs:
        outputs.directory(args.outdir)  # fails here, before any training, when it cannot be written
        for i, (train_files, eval_files) in enumerate(patterns):
            fold_dir = os.path.join(args.outdir, folds[i])
            serving_dir = os.path.join(fold_dir, "model", SERVING_SUBDIR)
            print(f"[{i + 1}/{args.num_kfolds}] training {folds[i]} model on the other folds -> {fold_dir}",
                  flush=True)
            results = train_payload_model(model_config, training, train_files, eval_files, work_dir=fold_dir,
                                          serving_dir=serving_dir)
            last_valid_r.append(results[-1].valid_pearson_r if results else float("nan"))
            # the centred window, as serving and the Evaluator score it
            files = sorted(path for pattern in eval_files for path in glob.glob(pattern))
            tables.append((folds[i], predict_payloads(serving_dir, files, batch_size=args.predict_batch)))
            print(f"    {folds[i]}: n={len(tables[-1][1]['name'])} predicted out of fold", flush=True)
        report_dir = outputs.directory(os.path.join(args.outdir, "cv"))
        summary = write_cross_validation_report(tables, report_dir, {
            "dataset": args.dataset, "valid_pearson_r_last_epoch": last_valid_r})
    print(f"{summary_line(summary)} -> {report_dir}")
    return 0
