"""``enformer-tfx train MODEL DATASET``: the Trainer's fine-tuning outside TFX (original flags)."""
from __future__ import annotations

import argparse
import os


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
    parser.add_argument("--key-size", type=int, default=64, help="attention key size (default 64)")
    parser.add_argument("--value-size", type=int, default=64, help="attention value size (default 64)")
    parser.add_argument("--num-heads", type=int, default=1, help="attention heads (default 1)")
    parser.add_argument("--pooling", choices=["flatten", "mean"], default="flatten",
                        help="flatten: original head (fixed length); mean: length agnostic")
    parser.add_argument("--learning-rate", type=float, default=1e-5, help="Adam learning rate (default 1e-5)")
    parser.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant")
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch (default 100)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    parser.add_argument("--length", type=int, default=25_600, help="window length in bp (default 25600)")
    parser.add_argument("--baseline", default=os.environ.get("ENFORMERBASELINE", ""),
                        help="Sonnet checkpoint dir ($ENFORMERBASELINE), 'tensorhub[:dir]' or 'random'")
    parser.add_argument("--ensemble", type=int, default=1,
                        help="K > 1: K payload heads on the fine-tuned trunk; the export serves mean and sd")
    parser.add_argument("--preset", default="full", help="Enformer size for --baseline random: tiny, small, full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-rc", action="store_true", help="no reverse-complement augmentation")
    parser.add_argument("--eval-offsets", type=int, default=1, help="fixed evaluation windows per payload")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from components.genome import InputError
    from pipeline.commands.make_dataset import default_examples_dir
    from trainer.run import train_payload_model
    from trainer.settings import ModelConfig, TrainingConfig

    dataset = default_examples_dir(args.dataset) if args.dataset.endswith(".tsv") else args.dataset
    for split in ("train", "eval"):
        if not os.path.isdir(os.path.join(dataset, f"Split-{split}")):
            raise InputError(f"{dataset}: no Split-{split}/ directory; pass the make-dataset examples directory")
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
        eval_offsets=args.eval_offsets,
    )
    model_config.validate("--")
    training.validate("--")
    results = train_payload_model(
        model_config, training, [os.path.join(dataset, "Split-train", "*")], [os.path.join(dataset, "Split-eval", "*")],
        work_dir=args.model, serving_dir=os.path.join(args.model, "model", "Format-Serving"),
    )
    print("epoch\ttrain_loss\tvalid_loss\tvalid_pearson_r")
    for result in results:
        print(f"{result.epoch}\t{result.train_loss:.5f}\t{result.valid_loss:.5f}\t{result.valid_pearson_r:.3f}")
    print(f"model: {os.path.join(args.model, 'model', 'Format-Serving')}")
    return 0
