"""Transfer: payload fine-tuning from a trunk pretrained on the demo tracks vs from random init.

``run(quick)`` builds the demo world (``demo-data``), pretrains a trunk on three of its four
bigWig tracks (``train-track-head --trunk train``: trunk + ``human`` head, Poisson loss) unless
``$BENCH_TRANSFER_PRETRAINED`` names an existing pretrained export (e.g. the Pusher directory
of ``pipeline/configs/demo_pretrain.yaml``, built on the same demo data), then fine-tunes the
payload model (trunk + mean-pooled attention head) from both starts on 10 %, 25 %, 50 % and 100 % of
the training payloads, once per seed of ``$BENCH_TRANSFER_SEEDS`` (default 0,1,2): the seed
draws the subset of payloads (shared by both starts, so gains are paired) and the training
seed. Every run has the same held-out payloads and the same 900 steps, each start at its own
learning rate (``LEARNING_RATES``); the held-out Pearson r after the last epoch (and after
every epoch) is reported per run, with mean, SD and range per cell and the paired gain.

Goal: at 25 % of the payloads the pretrained start beats random init by >= 0.1 r on average,
and matches it at 100 % (mean gain within ``MATCH_TOLERANCE``). Writes ``transfer.png`` (mean
r ± SD against the fraction of payloads, each run as a dot) and ``transfer_cells.jsonl`` (one
line per finished run; a rerun with the same settings skips those runs) into
``$BENCH_TRANSFER_OUTDIR`` (default ``out/bench``) and returns the table as JSON.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

# 10 % (16 payloads) looks below the goal's 25 %, where random init, given the steps, already
# learns the demo's motif rule. Runs go in RUN_ORDER, the goal's cells first, then 50 %, then
# 10 %, so an interrupted benchmark has the most important ones.
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
RUN_ORDER = (0.25, 1.0, 0.5, 0.1)
# Adam learning rate of each start (cosine schedule over the 900 steps): the demo's from-scratch
# rate for random init; far lower for the pretrained trunk, whose features a from-scratch rate
# destroys (README, "Trunk training": the diagnosis). demo.yaml's 0.0002 is for its 240 steps:
# held for 900 it was unstable (held-out r -0.55 after 120 steps at 50 %, seed 0); 5e-5 keeps
# about the same sum of step sizes.
LEARNING_RATES = {"random": 0.002, "pretrained": 5e-5}
PRETRAIN_TRACKS = 3  # DEMO00-02; DEMO03 stays out of pretraining
# Every run's budget: the 900 steps random init needs to converge on all the demo payloads
# (demo_random.yaml); with fewer, the random start's 100 % cell measured an unfinished run.
EPOCHS, STEPS, BATCH = 15, 60, 8
# "Matches at 100 %": the mean paired gain within this many r of zero.
MATCH_TOLERANCE = 0.05
WINDOW = 4096
CONSTRUCT = 5376  # the demo config's construct: the window plus room for random shifts


def _subset_tsv(tracks_tsv: str, rows: int, path: str) -> str:
    with open(tracks_tsv) as handle:
        lines = handle.read().splitlines()
    with open(path, "w") as handle:
        handle.write("\n".join(lines[: rows + 1]) + "\n")
    return path


def _subset_size(fraction: float, total: int) -> int:
    """Payloads in a ``fraction`` of ``total`` (at least one)."""
    return max(1, int(round(fraction * total)))


def _write_subset(records: List[bytes], fraction: float, seed: int, directory: str) -> str:
    """A seeded ``fraction`` of ``records`` as one GZIP TFRecord shard; returns its path."""
    from components.records import tfrecord_frame

    order = np.random.default_rng(seed).permutation(len(records))
    keep = order[:_subset_size(fraction, len(records))]
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


def _sd(values: np.ndarray) -> Optional[float]:
    """Sample SD over seeds (None for one seed)."""
    return round(float(np.std(values, ddof=1)), 3) if len(values) > 1 else None


def _summary(table: List[Dict[str, object]]) -> List[Dict[str, object]]:
    """Per fraction, over the seeds run from both starts: each start's mean / SD / range of the
    final held-out r, the paired gain, and each start's mean r after the first epoch (how fast it
    learns rather than how far)."""
    rows = []
    for fraction in sorted({row["fraction"] for row in table}):
        by_start = {start: {row["seed"]: row for row in table if row["fraction"] == fraction and row["start"] == start}
                    for start in ("random", "pretrained")}
        seeds = sorted(set(by_start["random"]) & set(by_start["pretrained"]))
        if not seeds:
            continue
        final = {start: np.array([runs[seed]["heldout_pearson_r"] for seed in seeds]) for start, runs in by_start.items()}
        first = {start: np.mean([runs[seed]["heldout_r_by_epoch"][0] for seed in seeds])
                 for start, runs in by_start.items()}
        gains = final["pretrained"] - final["random"]
        row: Dict[str, object] = {"fraction": fraction, "seeds": seeds}
        for start, values in final.items():
            row.update({f"{start}_mean": round(float(values.mean()), 3), f"{start}_sd": _sd(values),
                        f"{start}_range": [round(float(values.min()), 3), round(float(values.max()), 3)]})
        row.update({"gain_mean": round(float(gains.mean()), 3), "gain_sd": _sd(gains),
                    "gains": [round(float(gain), 3) for gain in gains], "pretrained_ahead": int((gains > 0).sum())})
        row.update({f"first_epoch_{start}_mean": round(float(value), 3) for start, value in first.items()})
        rows.append(row)
    return rows


def _plot(table: List[Dict[str, object]], summary: List[Dict[str, object]], path: str) -> None:
    """Mean held-out r over the paired seeds of each fraction (error bars: SD), each of those runs
    as a small dot, the number of seeds under each fraction (log-scaled axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paired = {(row["fraction"], seed) for row in summary for seed in row["seeds"]}
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for start, marker, nudge in (("random", "o--", 0.97), ("pretrained", "s-", 1.03)):
        means = [row[f"{start}_mean"] for row in summary]
        errors = [row[f"{start}_sd"] or 0.0 for row in summary]
        bars = axis.errorbar([100 * row["fraction"] * nudge for row in summary], means, yerr=errors, fmt=marker,
                             capsize=3, label=f"{start} trunk (mean ± SD)")
        runs = [row for row in table if row["start"] == start and (row["fraction"], row["seed"]) in paired]
        axis.plot([100 * row["fraction"] * nudge for row in runs], [row["heldout_pearson_r"] for row in runs], ".",
                  color=bars.lines[0].get_color(), alpha=0.5)
    axis.set_xscale("log")  # the fractions double
    axis.set_xlabel("training payloads used (%; n = seeds)")
    axis.set_ylabel("held-out Pearson r")
    axis.set_xticks([100 * row["fraction"] for row in summary],
                    [f"{100 * row['fraction']:g}\nn={len(row['seeds'])}" for row in summary])
    axis.minorticks_off()
    axis.legend(loc="lower right")
    axis.set_title("payload fine-tuning: pretrained trunk vs random init")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _cell_key(row: Dict[str, object]) -> tuple:
    return (row["fraction"], row["start"], row["seed"])


def _load_cells(path: str, settings: Dict[str, object]) -> Dict[tuple, Dict[str, object]]:
    """Runs of an earlier, interrupted benchmark (one JSON object per line) with the same settings
    and the learning rate their start has now."""
    if not os.path.exists(path):
        return {}
    cells = {}
    with open(path) as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("settings") == settings and row["learning_rate"] == LEARNING_RATES[row["start"]]:
                cells[_cell_key(row)] = row
    return cells


def run(quick: bool = False) -> Dict[str, object]:
    from pipeline.cli import main as cli
    from pipeline.demo_data import generate_demo_data
    from components.records import read_split, shard_pattern
    from trainer.run import train_payload_model
    from trainer.settings import ModelConfig, TrainingConfig

    preset = "tiny" if quick else "small"
    epochs, steps = (2, 5) if quick else (EPOCHS, STEPS)
    seeds = [int(seed) for seed in os.environ.get("BENCH_TRANSFER_SEEDS", "0,1" if quick else "0,1,2").split(",")]
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
        settings = {"preset": preset, "epochs": epochs, "steps": steps, "batch": BATCH,
                    "pretrained": os.path.abspath(pretrained)}
        # Each finished run is appended here, so an interrupted benchmark resumes where it stopped.
        cells_path = os.path.join(outdir, "transfer_cells.jsonl")
        done = _load_cells(cells_path, settings)
        table: List[Dict[str, object]] = []
        for seed in seeds:
            for fraction in RUN_ORDER:
                subset = None  # written only when one of its runs is not in the resume file
                for start, baseline in (("random", "random"), ("pretrained", pretrained)):
                    if (fraction, start, seed) in done:
                        table.append(done[(fraction, start, seed)])
                        continue
                    subset = subset or _write_subset(train_records, fraction, seed,
                                                     os.path.join(tmp, f"train-{fraction}-{seed}"))
                    overrides = {"heads": {"human": PRETRAIN_TRACKS}}  # the pretrained trunk's head set
                    model_config = ModelConfig(preset=preset, baseline=baseline, pooling="mean",
                                               window_length=WINDOW, overrides=overrides)
                    training = TrainingConfig(mode="finetune", learning_rate=LEARNING_RATES[start],
                                              lr_schedule="cosine", epochs=epochs, steps=steps, batch=BATCH,
                                              seed=seed)
                    run_dir = os.path.join(tmp, f"{start}-{fraction}-{seed}")
                    begun = time.perf_counter()
                    results = train_payload_model(model_config, training, [subset], eval_files,
                                                  os.path.join(run_dir, "work"), os.path.join(run_dir, "serving"))
                    row = {"fraction": fraction, "start": start, "seed": seed,
                           "train_payloads": _subset_size(fraction, len(train_records)),
                           "learning_rate": LEARNING_RATES[start],
                           "heldout_pearson_r": round(results[-1].valid_pearson_r, 3),
                           "heldout_r_by_epoch": [round(result.valid_pearson_r, 3) for result in results],
                           "seconds": round(time.perf_counter() - begun, 1)}
                    table.append(row)
                    with open(cells_path, "a") as handle:
                        handle.write(json.dumps({**row, "settings": settings}) + "\n")
    table = [{key: value for key, value in row.items() if key != "settings"} for row in table]
    table.sort(key=lambda row: (row["fraction"], row["start"] != "random", row["seed"]))
    summary = _summary(table)
    by_fraction = {row["fraction"]: row for row in summary}
    plot = os.path.join(outdir, "transfer.png")
    _plot(table, summary, plot)
    gain_25, gain_100 = by_fraction[0.25]["gain_mean"], by_fraction[1.0]["gain_mean"]
    return {
        "benchmark": "transfer",
        "preset": preset,
        "steps_per_run": epochs * steps,
        "batch": BATCH,
        "seeds": seeds,
        "pretrained": pretrained,
        "pretrain_seconds": round(pretrain_seconds, 1),
        "summary": summary,
        "table": table,
        "gain_at_25_percent": gain_25,
        "gain_at_100_percent": gain_100,
        "goal": f"mean gain >= 0.1 at 25 %, |mean gain| <= {MATCH_TOLERANCE} at 100 %",
        "goal_met": bool(gain_25 >= 0.1 and abs(gain_100) <= MATCH_TOLERANCE),
        "plot": plot,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
