"""Transfer: payload fine-tuning from a trunk pretrained on the demo tracks vs from random init.

``run(quick)`` builds the demo world (``demo-data``), pretrains a trunk on three of its four
bigWig tracks (``train-track-head --trunk train``: trunk + ``human`` head, Poisson loss) unless
``$BENCH_TRANSFER_PRETRAINED`` names an existing pretrained export (e.g. the Pusher directory
of ``pipeline/configs/demo_pretrain.yaml``, built on the same demo data), then fine-tunes the
payload model (trunk + mean-pooled attention head) from both starts on 25 %, 50 % and 100 % of
the training payloads -- the same held-out payloads and the same number of steps for every
run, each start at its own learning rate (``LEARNING_RATES``) -- and reports the held-out
Pearson r after the last epoch (and after every epoch).

Goal: at 25 % of the payloads the pretrained start beats random init by >= 0.1 r, and matches
it at 100 %. Writes ``transfer.png`` (r against the fraction of payloads) into
``$BENCH_TRANSFER_OUTDIR`` (default ``out/bench``) and returns the table as JSON.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from typing import Dict, List

import numpy as np

FRACTIONS = (0.25, 0.5, 1.0)
# Adam learning rate of each start (cosine schedule): the demo's from-scratch rate for random
# init; ten times lower for the pretrained trunk, whose features a from-scratch rate destroys
# (README, "Trunk training": the diagnosis).
LEARNING_RATES = {"random": 0.002, "pretrained": 0.0002}
PRETRAIN_TRACKS = 3  # DEMO00-02; DEMO03 stays out of pretraining
WINDOW = 4096
CONSTRUCT = 5376  # the demo config's construct: the window plus room for random shifts


def _subset_tsv(tracks_tsv: str, rows: int, path: str) -> str:
    with open(tracks_tsv) as handle:
        lines = handle.read().splitlines()
    with open(path, "w") as handle:
        handle.write("\n".join(lines[: rows + 1]) + "\n")
    return path


def _write_subset(records: List[bytes], fraction: float, seed: int, directory: str) -> str:
    """A seeded ``fraction`` of ``records`` as one GZIP TFRecord shard; returns its path."""
    from components.records import tfrecord_frame

    order = np.random.default_rng(seed).permutation(len(records))
    keep = order[: max(1, int(round(fraction * len(records))))]
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "data_tfrecord-00000-of-00001.gz")
    with gzip.open(path, "wb") as handle:
        for index in sorted(keep):
            handle.write(tfrecord_frame(records[index]))
    return path


def _pretrain(data: str, tmp: str, preset: str, epochs: int, steps: int) -> str:
    """Pretrain a trunk on the first tracks of the demo; returns its export (Format-Serving)."""
    from pipeline.cli import main as cli

    prefix = os.path.join(tmp, "pretrain_tracks")
    tsv = _subset_tsv(os.path.join(data, "tracks.tsv"), PRETRAIN_TRACKS, os.path.join(data, "tracks_pretrain.tsv"))
    if cli(["make-track-dataset", "--reference", os.path.join(data, "reference.fa"), "--length", str(WINDOW),
            "--size", "1000", "--seed", "55", "--eval-chroms", "chr19", "--prefix", prefix,
            os.path.join(data, "mappable.bed"), tsv]):
        raise RuntimeError("make-track-dataset failed")
    model = os.path.join(tmp, "pretrained")
    if cli(["train-track-head", model, prefix, "--baseline", "random", "--preset", preset, "--trunk", "train",
            "--epochs", str(epochs), "--steps", str(steps), "--batch", "8", "--learning-rate", "0.002",
            "--lr-schedule", "cosine"]):
        raise RuntimeError("train-track-head --trunk train failed")
    return os.path.join(model, "model", "Format-Serving")


def _plot(table: List[Dict[str, object]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    for start, marker in (("random", "o--"), ("pretrained", "s-")):
        rows = [row for row in table if row["start"] == start]
        axis.plot([100 * row["fraction"] for row in rows], [row["heldout_pearson_r"] for row in rows], marker,
                  label=f"{start} trunk")
    axis.set_xlabel("training payloads used (%)")
    axis.set_ylabel("held-out Pearson r")
    axis.set_xticks([100 * f for f in FRACTIONS])
    axis.legend()
    axis.set_title("payload fine-tuning: pretrained trunk vs random init")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(quick: bool = False) -> Dict[str, object]:
    from pipeline.cli import main as cli
    from pipeline.demo_data import generate_demo_data
    from components.records import read_split, shard_pattern
    from trainer.run import train_payload_model
    from trainer.settings import ModelConfig, TrainingConfig

    preset = "tiny" if quick else "small"
    epochs, steps = (2, 5) if quick else (6, 40)
    outdir = os.environ.get("BENCH_TRANSFER_OUTDIR", "out/bench")
    os.makedirs(outdir, exist_ok=True)
    pretrained = os.environ.get("BENCH_TRANSFER_PRETRAINED", "")
    with tempfile.TemporaryDirectory(prefix="bench-transfer-") as tmp:
        data = os.path.join(tmp, "data")
        manifest = generate_demo_data(data, seed=7)  # the make demo world
        started = time.perf_counter()
        if not pretrained:
            pretrained = _pretrain(data, tmp, preset, *((2, 5) if quick else (8, 60)))
        pretrain_seconds = time.perf_counter() - started
        examples = os.path.join(tmp, "payloads.examples")
        if cli(["make-dataset", os.path.join(data, "activity.tsv"), os.path.join(data, "payloads.fa"),
                "--reference", os.path.join(data, "reference.fa"), "--context", manifest["context"],
                "--length", str(CONSTRUCT), "--window", str(WINDOW), "--seed", "4200", "--folds", "train=8",
                "eval=2", "--output", os.path.join(tmp, "payloads.tsv"), "--examples-dir", examples]):
            raise RuntimeError("make-dataset failed")
        train_records = read_split(examples, "train")
        eval_files = [shard_pattern(examples, "eval")]
        table: List[Dict[str, object]] = []
        for fraction in FRACTIONS:
            train_file = _write_subset(train_records, fraction, 0, os.path.join(tmp, f"train-{fraction}"))
            for start, baseline in (("random", "random"), ("pretrained", pretrained)):
                overrides = {"heads": {"human": PRETRAIN_TRACKS}}  # the pretrained trunk's head set
                model_config = ModelConfig(preset=preset, baseline=baseline, pooling="mean", window_length=WINDOW,
                                           overrides=overrides)
                training = TrainingConfig(mode="finetune", learning_rate=LEARNING_RATES[start], lr_schedule="cosine",
                                          epochs=epochs, steps=steps, batch=8, seed=0)
                run_dir = os.path.join(tmp, f"{start}-{fraction}")
                begun = time.perf_counter()
                results = train_payload_model(model_config, training, [train_file], eval_files,
                                              os.path.join(run_dir, "work"), os.path.join(run_dir, "serving"))
                table.append({"fraction": fraction, "start": start,
                              "train_payloads": max(1, int(round(fraction * len(train_records)))),
                              "learning_rate": LEARNING_RATES[start],
                              "heldout_pearson_r": round(results[-1].valid_pearson_r, 3),
                              "heldout_r_by_epoch": [round(result.valid_pearson_r, 3) for result in results],
                              "seconds": round(time.perf_counter() - begun, 1)})
    by = {(row["start"], row["fraction"]): row["heldout_pearson_r"] for row in table}
    plot = os.path.join(outdir, "transfer.png")
    _plot(table, plot)
    return {
        "benchmark": "transfer",
        "preset": preset,
        "steps_per_run": epochs * steps,
        "batch": 8,
        "pretrained": pretrained,
        "pretrain_seconds": round(pretrain_seconds, 1),
        "table": table,
        "gain_at_25_percent": round(by[("pretrained", 0.25)] - by[("random", 0.25)], 3),
        "gain_at_100_percent": round(by[("pretrained", 1.0)] - by[("random", 1.0)], 3),
        "goal": "gain >= 0.1 at 25 %, about 0 at 100 %",
        "plot": plot,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
