"""``enformer-tfx train-track-head MODEL DATASET``: the original ``train_track_h5``, on our track records.

A new ``Dense(n_tracks, softplus)`` head on a frozen Enformer trunk (``--baseline``), trained
with the Poisson loss through the trunk-embedding cache: exactly the pipeline Trainer's
``training.mode: tracks`` (:func:`trainer.run.train_track_model`), outside TFX. The held-out
split is the one ``make-track-dataset`` wrote (``--eval-chroms`` / ``--eval-fraction``), where
the original script took a ``--validation`` fraction of its H5 batches.

``--trunk train`` trains the trunk itself with one species head (``--species``) on the tracks
(pretraining; :mod:`trainer.trunk_training`): the export's weights are an Enformer checkpoint in
the published layout, a ``--baseline`` for later runs.
"""
from __future__ import annotations

import argparse
import json
import os

from trainer.settings import LR_SCHEDULES, TRACK_LOSSES, TRUNK_MODES, ModelConfig, TrainingConfig

REPORT_SUBDIR = "evaluation"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-track-head",
        help="train a new track head on a frozen trunk, or the trunk itself (--trunk train), on make-track-dataset "
        "records (no TFX)",
        description="Same training as the pipeline's Trainer in tracks mode (trainer/run.py): trunk embeddings are "
        "computed once into MODEL/embedding_cache, then the head trains on them. Writes checkpoints (resumable: rerun "
        "the same command), TensorBoard logs (MODEL/logs), training_log.tsv, training_curve.png, the SavedModel "
        "under MODEL/model/Format-Serving (a --head for predict-regions) and a per-track evaluation report on the "
        "held-out windows under MODEL/model/evaluation.",
    )
    parser.add_argument("model", help="output directory (rerun to resume an interrupted run)")
    parser.add_argument("dataset", help="make-track-dataset prefix directory (Split-train/, Split-eval/, "
                        "dataset_info.json), or a BigWigTrackGen Examples directory")
    # Defaults are the pipeline config's (trainer.settings), so `train-track-head` and `run` agree.
    model, training = ModelConfig(), TrainingConfig(mode="tracks")
    parser.add_argument("--baseline", default=os.environ.get("ENFORMERBASELINE", ""),
                        help="trunk: Sonnet checkpoint dir ($ENFORMERBASELINE) or 'random' (must be asked for)")
    parser.add_argument("--preset", default=model.preset,
                        help="Enformer size for --baseline random: tiny, small, full (default %(default)s); a "
                        "checkpoint baseline's configuration (heads included) is read off its variables")
    parser.add_argument("--learning-rate", type=float, default=training.resolved_learning_rate,
                        help="Adam learning rate (default %(default)s)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=training.lr_schedule)
    parser.add_argument("--epochs", type=int, default=training.epochs, help="epochs (default %(default)s)")
    parser.add_argument("--steps", type=int, default=training.steps, help="steps per epoch (default %(default)s)")
    parser.add_argument("--batch", type=int, default=training.batch,
                        help="windows per step (default %(default)s)")
    parser.add_argument("--seed", type=int, default=training.seed)
    parser.add_argument("--no-rc", action="store_true",
                        help="no reverse-complement augmentation (the cache then holds the forward strand only)")
    parser.add_argument("--trunk", choices=TRUNK_MODES, default=training.trunk,
                        help="frozen: new head on the fixed trunk (embedding cache); train: train the trunk with the "
                        "--species head (pretraining); MODEL/model/Format-Serving/assets.extra/weights is then an "
                        "Enformer checkpoint in the published layout, usable as --baseline (default %(default)s)")
    parser.add_argument("--species", default=training.species,
                        help="--trunk train: name of the species head that predicts the tracks (default %(default)s)")
    parser.add_argument("--loss", choices=TRACK_LOSSES, default=training.loss, help="default %(default)s")
    parser.set_defaults(func=run)


def check_dataset(dataset: str) -> dict:
    """``dataset_info.json`` of a track dataset directory; :class:`InputError` if it is not one."""
    from components.errors import InputError
    from components.records import DATASET_INFO, split_dir

    for split in ("train", "eval"):
        if not os.path.isdir(split_dir(dataset, split)):
            raise InputError(f"{dataset}: no {os.path.basename(split_dir(dataset, split))}/ directory; pass the "
                             "make-track-dataset --prefix directory")
    path = os.path.join(dataset, DATASET_INFO)
    if not os.path.exists(path):
        raise InputError(f"{path}: missing; this is not a track dataset (make-track-dataset writes it; payload "
                         "datasets train with `enformer-tfx train`)")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def run(args: argparse.Namespace) -> int:
    from components.errors import InputError

    dataset = args.dataset.rstrip("/")
    info = check_dataset(dataset)
    if not args.baseline:
        raise InputError("--baseline is required: an Enformer checkpoint directory or 'random' "
                         "(or set $ENFORMERBASELINE)")
    # A trained trunk predicts the dataset's tracks with its one species head.
    overrides = {"heads": {args.species: int(info["n_tracks"])}} if args.trunk == "train" else {}
    # A checkpoint (the published weights or a trunk trained here) is built as it was written.
    random = args.baseline == "random" or args.baseline.startswith("random:")
    model_config = ModelConfig(preset=args.preset if random else "auto", baseline=args.baseline,
                               window_length=int(info["length"]),
                               overrides=overrides)
    training = TrainingConfig(
        mode="tracks", learning_rate=args.learning_rate, lr_schedule=args.lr_schedule, epochs=args.epochs,
        steps=args.steps, batch=args.batch, seed=args.seed, reverse_complement=not args.no_rc, trunk=args.trunk,
        species=args.species, loss=args.loss)
    from components.evaluation_report import track_report
    from components.outputs import atomic_outputs
    from components.records import shard_pattern
    from trainer.checkpoints import SERVING_SUBDIR
    from trainer.run import train_track_model  # TensorFlow: only after the settings are valid

    serving_dir = os.path.join(args.model, "model", SERVING_SUBDIR)
    eval_files = [shard_pattern(dataset, "eval")]
    # MODEL/ is a resumable work directory (checkpoints, embedding cache), not published at once.
    with atomic_outputs() as outputs:
        results, _ = train_track_model(model_config, training, [shard_pattern(dataset, "train")], eval_files,
                                       work_dir=outputs.directory(args.model), serving_dir=serving_dir)
    report_dir = os.path.join(args.model, "model", REPORT_SUBDIR)
    from trainer.inputs import list_files

    summary = track_report.write_track_report(
        track_report.predict_track_windows(serving_dir, list_files(eval_files)), info.get("tracks", []), report_dir,
        title=f"held-out windows of {os.path.basename(dataset)}")
    print("epoch\ttrain_loss\tvalid_loss\tvalid_pearson_r")
    for result in results:
        print(f"{result.epoch}\t{result.train_loss:.5f}\t{result.valid_loss:.5f}\t{result.valid_pearson_r:.3f}")
    print(f"held-out windows: n={summary['n_windows']}  mean track Pearson r={summary['mean_track_pearson_r']:.3f}")
    print(track_report.format_track_table(track_report.read_track_table(report_dir)))
    if args.trunk == "train":
        print(f"trained trunk: {serving_dir}  (published layout: --baseline {serving_dir})")
    else:
        print(f"model: {serving_dir}  (enformer-tfx predict-regions ... --head {serving_dir})")
    print(f"report: {report_dir}/{track_report.TABLE_NAME}, {track_report.PLOT_NAME}; "
          f"TensorBoard: tensorboard --logdir {os.path.join(args.model, 'logs')}")
    return 0
