"""``enformer-tfx train MODEL DATASET``: the Trainer's fine-tuning outside TFX (original flags)."""
from __future__ import annotations

import argparse
import os
from typing import List, Optional, Tuple

from trainer.settings import LR_SCHEDULES, POOLINGS, PRECISIONS, TRUNK_BATCH_NORMS, ModelConfig, TrainingConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="fine-tune Enformer + payload head on a make-dataset output (no TFX)",
        description="Same training as the pipeline's Trainer (trainer/run.py), on the Examples written by "
        "`enformer-tfx make-dataset`. Writes checkpoints (resumable: rerun the same command), TensorBoard logs, "
        "training_log.tsv, training_curve.png and the SavedModel under MODEL/.",
    )
    parser.add_argument("model", help="output directory (rerun to resume an interrupted run)")
    parser.add_argument("dataset", help="make-dataset examples directory (with Split-train/ and Split-eval/), "
                        "or the dataset TSV whose <name>.examples directory sits beside it")
    add_training_arguments(parser)
    parser.add_argument("--kfold", type=int, metavar="I",
                        help="with --num-kfolds K (a make-dataset --kfolds K dataset): train on every fold but "
                             "fold I, validate on fold I")
    parser.add_argument("--num-kfolds", type=int, metavar="K", help="number of folds of the dataset (see --kfold)")
    parser.set_defaults(func=run)


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Model and training flags shared by ``train`` and ``cross-validate``."""
    # Defaults are the pipeline config's (trainer.settings), so `train` and `run` agree.
    model, training = ModelConfig(), TrainingConfig()
    parser.add_argument("--key-size", type=int, default=model.key_size, help="attention key size (default %(default)s)")
    parser.add_argument("--value-size", type=int, default=model.value_size,
                        help="attention value size (default %(default)s)")
    parser.add_argument("--num-heads", type=int, default=model.num_heads, help="attention heads (default %(default)s)")
    parser.add_argument("--pooling", choices=POOLINGS, default=model.pooling,
                        help="flatten: original head (fixed length); mean: length agnostic (default %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=training.resolved_learning_rate,
                        help="Adam learning rate (default %(default)s)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=training.lr_schedule)
    parser.add_argument("--epochs", type=int, default=training.epochs, help="epochs (default %(default)s)")
    parser.add_argument("--steps", type=int, default=training.steps, help="steps per epoch (default %(default)s)")
    parser.add_argument("--batch", type=int, default=training.batch, help="batch size (default %(default)s)")
    parser.add_argument("--length", type=int, default=model.window_length,
                        help="window length in bp (default %(default)s)")
    parser.add_argument("--baseline", default=os.environ.get("ENFORMERBASELINE", ""),
                        help="Sonnet checkpoint dir ($ENFORMERBASELINE), 'tensorhub[:dir]' or 'random'")
    parser.add_argument("--ensemble", type=int, default=model.ensemble,
                        help="K > 1: K payload heads on the fine-tuned trunk; the export serves mean and sd (default %(default)s)")
    parser.add_argument("--preset", default=model.preset,
                        help="Enformer size for --baseline random: tiny, small, full (default %(default)s)")
    parser.add_argument("--seed", type=int, default=training.seed)
    parser.add_argument("--no-rc", action="store_true", help="no reverse-complement augmentation")
    parser.add_argument("--eval-offsets", type=int, default=training.eval_offsets,
                        help="fixed evaluation windows per payload (default %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=training.precision,
                        help="bfloat16: mixed precision (bfloat16 matmuls/convolutions, float32 variables and "
                             "optimiser state; README 'Training throughput and memory') (default %(default)s)")
    parser.add_argument("--trunk-batch-norm", choices=TRUNK_BATCH_NORMS, default=training.trunk_batch_norm,
                        help="the trunk's batch norms while fine-tuning: batch statistics, or the moving ones kept "
                             "as loaded (default %(default)s)")
    parser.add_argument("--recompute", action="store_true",
                        help="gradient checkpointing of the trunk's blocks: less memory, about one more forward pass")


def training_configs(args: argparse.Namespace) -> Tuple[ModelConfig, TrainingConfig]:
    """The parsed :func:`add_training_arguments` flags as the pipeline's model and training settings."""
    from components.errors import InputError

    if not args.baseline:
        raise InputError("--baseline is required: a checkpoint directory, tensorhub[:dir], or 'random' "
                         "(or set $ENFORMERBASELINE)")
    model_config = ModelConfig(
        preset=args.preset, baseline=args.baseline, pooling=args.pooling, key_size=args.key_size,
        value_size=args.value_size, num_heads=args.num_heads, window_length=args.length, ensemble=args.ensemble,
    )
    training = TrainingConfig(
        mode="finetune", learning_rate=args.learning_rate, lr_schedule=args.lr_schedule, epochs=args.epochs,
        steps=args.steps, batch=args.batch, seed=args.seed, reverse_complement=not args.no_rc,
        eval_offsets=args.eval_offsets, precision=args.precision, recompute=args.recompute,
        trunk_batch_norm=args.trunk_batch_norm,
    )
    return model_config, training


def fold_patterns(dataset: str, kfold: Optional[int], num_kfolds: Optional[int]) -> Tuple[List[str], List[str]]:
    """``(train, eval)`` shard patterns: ``Split-train``/``Split-eval``, or with ``kfold``/``num_kfolds``
    every ``Split-fold<j>`` (``j != kfold``) / ``Split-fold<kfold>``. Raises :class:`InputError` when the
    dataset does not have exactly those splits."""
    import glob

    from components.errors import InputError
    from components.payload_example_gen.params import KFOLD_PREFIX
    from components.records import shard_pattern, split_dir

    if (kfold is None) != (num_kfolds is None):
        raise InputError("--kfold and --num-kfolds go together")
    if kfold is None:
        names = {"train": ["train"], "eval": ["eval"]}
    else:
        if num_kfolds < 2 or not 0 <= kfold < num_kfolds:
            raise InputError(f"--kfold {kfold} --num-kfolds {num_kfolds}: need K >= 2 and 0 <= I < K")
        present = sorted(os.path.basename(path) for path in glob.glob(split_dir(dataset, f"{KFOLD_PREFIX}*")))
        expected = sorted(os.path.basename(split_dir(dataset, f"{KFOLD_PREFIX}{j}")) for j in range(num_kfolds))
        if present != expected:
            raise InputError(f"{dataset}: has {len(present)} fold split(s) ({', '.join(present) or 'none'}), not the "
                             f"{num_kfolds} of --num-kfolds; make it with make-dataset --kfolds {num_kfolds}")
        names = {"train": [f"{KFOLD_PREFIX}{j}" for j in range(num_kfolds) if j != kfold],
                 "eval": [f"{KFOLD_PREFIX}{kfold}"]}
    for split in names["train"] + names["eval"]:
        if not os.path.isdir(split_dir(dataset, split)):
            raise InputError(f"{dataset}: no {os.path.basename(split_dir(dataset, split))}/ directory; "
                             "pass the make-dataset examples directory")
    return ([shard_pattern(dataset, split) for split in names["train"]],
            [shard_pattern(dataset, split) for split in names["eval"]])


def run(args: argparse.Namespace) -> int:
    from pipeline.commands.make_dataset import default_examples_dir

    dataset = default_examples_dir(args.dataset) if args.dataset.endswith(".tsv") else args.dataset
    train_files, eval_files = fold_patterns(dataset, args.kfold, args.num_kfolds)
    model_config, training = training_configs(args)
    from components.outputs import atomic_outputs
    from trainer.checkpoints import SERVING_SUBDIR
    from trainer.run import train_payload_model  # TensorFlow: only after the settings are valid

    serving_dir = os.path.join(args.model, "model", SERVING_SUBDIR)
    # MODEL/ is a resumable work directory, not published at once: the group only checks that it can be
    # written and removes it again if this run created it and failed before writing anything.
    with atomic_outputs() as outputs:
        results = train_payload_model(model_config, training, train_files, eval_files,
                                      work_dir=outputs.directory(args.model),
                                      serving_dir=serving_dir)
    print("epoch\ttrain_loss\tvalid_loss\tvalid_pearson_r")
    for result in results:
        print(f"{result.epoch}\t{result.train_loss:.5f}\t{result.valid_loss:.5f}\t{result.valid_pearson_r:.3f}")
    print(f"model: {serving_dir}")
    return 0
