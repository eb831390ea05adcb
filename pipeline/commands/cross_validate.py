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
    import json
    import os

    import numpy as np

    from components.correlation import pearson_r, spearman_rho
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

    from components.evaluation_report.report import write_payload_report
    from components.outputs import atomic_outputs
    from trainer.checkpoints import SERVING_SUBDIR
    from trainer.predict import payloads
    from trainer.predict.predictor import ACTIVITY, load_predictor, predict_codes
    from trainer.run import train_payload_model

    folds = [f"{KFOLD_PREFIX}{i}" for i in range(args.num_kfolds)]
    rows = list(payloads.read_dataset_table(args.dataset))
    stray = [f"{row.name} ({row.fold})" for row in rows if row.fold not in folds]
    if stray:
        raise InputError(f"{args.dataset}: payloads outside {folds[0]}..{folds[-1]}: {', '.join(stray[:5])}"
                         f"{' ...' if len(stray) > 5 else ''} (a make-dataset --kfolds {args.num_kfolds} table?)")
    window = model_config.window_length
    short = [row.name for row in rows if row.codes.size < window]
    if short:
        raise InputError(f"{args.dataset}: constructs shorter than the {window} bp window: {', '.join(short[:5])}")
    oof = np.full(len(rows), np.nan)
    per_fold = []
    with atomic_outputs() as outputs:
        outputs.directory(args.outdir)  # fails here, before any training, when it cannot be written
        for i, (train_files, eval_files) in enumerate(patterns):
            fold_dir = os.path.join(args.outdir, folds[i])
            serving_dir = os.path.join(fold_dir, "model", SERVING_SUBDIR)
            print(f"[{i + 1}/{args.num_kfolds}] training {folds[i]} model on the other folds -> {fold_dir}",
                  flush=True)
            results = train_payload_model(model_config, training, train_files, eval_files, work_dir=fold_dir,
                                          serving_dir=serving_dir)
            predictor = load_predictor(serving_dir, {ACTIVITY: None}, window)
            members = [k for k, row in enumerate(rows) if row.fold == folds[i]]
            for first in range(0, len(members), args.predict_batch):
                chunk = members[first:first + args.predict_batch]
                windows = np.stack([rows[k].codes[(rows[k].codes.size - window) // 2:][:window] for k in chunk])
                oof[chunk] = predict_codes(predictor, windows)[ACTIVITY]
            measured = np.array([rows[k].activity for k in members])
            per_fold.append({"fold": folds[i], "n": len(members), "pearson_r": pearson_r(oof[members], measured),
                             "spearman_rho": spearman_rho(oof[members], measured),
                             "valid_pearson_r_last_epoch": results[-1].valid_pearson_r if results else float("nan")})
            print(f"    {folds[i]}: n={len(members)} r={per_fold[-1]['pearson_r']:.4f} "
                  f"rho={per_fold[-1]['spearman_rho']:.4f}", flush=True)
        report_dir = outputs.directory(os.path.join(args.outdir, "cv"))
        table = {"name": np.array([f"{row.name}" for row in rows]), "group": np.array([row.fold for row in rows]),
                 "activity": np.array([row.activity for row in rows]), "predicted": oof}
        summary = write_payload_report(table, report_dir, f"{args.num_kfolds}-fold cross-validation (out of fold)")
        fold_r = np.array([f["pearson_r"] for f in per_fold], dtype=float)
        fold_rho = np.array([f["spearman_rho"] for f in per_fold], dtype=float)
        summary.update({
            "num_kfolds": args.num_kfolds, "dataset": args.dataset,
            "fold_pearson_r_mean": float(np.nanmean(fold_r)), "fold_pearson_r_sd": float(np.nanstd(fold_r, ddof=1)),
            "fold_spearman_rho_mean": float(np.nanmean(fold_rho)),
            "fold_spearman_rho_sd": float(np.nanstd(fold_rho, ddof=1)), "folds": per_fold,
        })
        with open(os.path.join(report_dir, "folds.tsv"), "w") as handle:
            handle.write("fold\tn\tpearson_r\tspearman_rho\n")
            handle.writelines(f"{f['fold']}\t{f['n']}\t{f['pearson_r']:.6g}\t{f['spearman_rho']:.6g}\n"
                              for f in per_fold)
        with open(os.path.join(report_dir, "summary.json"), "w") as handle:
            json.dump(_finite(summary), handle, indent=2)
    print(f"out of fold ({summary['n']} payloads, each predicted once by the model that did not train on it): "
          f"r = {summary['pearson_r']:.4f}, rho = {summary['spearman_rho']:.4f}; per fold r = "
          f"{summary['fold_pearson_r_mean']:.4f} +/- {summary['fold_pearson_r_sd']:.4f} -> {report_dir}")
    return 0


def _finite(value):
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, float) and value != value:
        return None
    return value
