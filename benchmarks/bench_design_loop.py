"""The simulated assay cycle: does designing the next batch beat picking it at random?

The world is the demo generator's (:mod:`pipeline.demo_data`): its reference, locus and
payload library, and its hidden activity rule with replicate noise (sd 0.08) as the "assay".

* span 1: an initial library of ``initial`` demo payloads (random draw); a fixed test set of
  ``test`` other demo payloads is never trained on;
* round 0: train on span 1 (shared by both arms);
* rounds 1..R, per arm: candidates = edits of the arm's ``parents`` best measured payloads
  (:mod:`components.designer`, same generator for both arms); the *designed* arm picks a batch
  with ``acquisition`` (``ucb`` on the ensemble's mean + beta sd, or ``diverse``), the
  *random* arm picks the same number uniformly; the batch is "assayed" with the rule
  (replicates with noise), written as the next span, and the arm's model is retrained on all
  its spans (warm start from its previous model, as the pipeline does).

Per round and arm: true (noise-free) mean activity of the batch, best true activity found so
far, and the arm model's held-out Pearson r on the fixed test set. Writes
``design_loop.png`` (per-round curves of both arms) and returns the JSON.

Scale: ``python -m benchmarks.bench_design_loop --rounds 2 --epochs 4 ...`` (see ``--help``);
``run(quick=True)`` is the smallest setting. Training uses the ``tiny`` Enformer from random
weights unless ``--start-model`` names a pushed model to warm-start round 0 from (e.g. the
demo's ``out/demo/serving/<version>`` with ``--preset small``; use another ``--seed`` than
the demo's data, 7, so that none of the loop's payloads was seen by that model).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

LOG = logging.getLogger("bench_design_loop")


@dataclasses.dataclass
class LoopSettings:
    rounds: int = 2
    initial: int = 60
    test: int = 40
    batch: int = 24
    candidates: int = 600
    parents: int = 8
    acquisition: str = "ucb"
    beta: float = 1.0
    ensemble: int = 3
    preset: str = "tiny"
    epochs: int = 4
    steps: int = 30
    train_batch: int = 8
    learning_rate: float = 0.002
    seed: int = 7
    scale: float = 1.0
    construct_length: int = 5376
    window_length: int = 4096
    # A pushed model (SavedModel dir with assets.extra/weights) to start round 0 from, as the
    # pipeline warm-starts from a blessed model; its preset must match. Empty: random init.
    start_model: str = ""


# The setting measured for the README: warm-started from the pushed demo model (world seed 11).
DEMO_SERVING = os.path.join("out", "demo", "serving")
README_SETTINGS = dict(rounds=2, initial=60, test=30, batch=16, candidates=300, parents=6, ensemble=3, preset="small",
                       epochs=3, steps=20, learning_rate=0.0005, seed=11)
QUICK = LoopSettings(rounds=1, initial=30, test=20, batch=8, candidates=100, parents=4, ensemble=2, epochs=1, steps=5,
                     scale=0.5)


@dataclasses.dataclass
class Arm:
    """One arm's measured payloads (sequence, name, group) and its files."""

    name: str
    directory: str
    payloads: List[Tuple[str, str, str]]
    spans: List[str]
    model: str = ""


def _assay(rng: np.random.Generator, path: str, payloads: Sequence[Tuple[str, str, str]]) -> None:
    """Replicate rows from the demo rule (noise sd 0.08, a few NA rows), the demo generator's writer."""
    from pipeline.demo_data import find_motif_sites, write_activity_table

    write_activity_table(path, rng, [(name, group, sequence, find_motif_sites(sequence))
                                     for sequence, name, group in payloads])


def _write_inputs(arm: Arm) -> Tuple[str, str]:
    """The arm's cumulative payload FASTA and annotation BED (ACT1 sites, as the demo writes them)."""
    from components.genome import write_fasta
    from components.payload_example_gen.constructs import fasta_key
    from pipeline.demo_data import find_motif_sites, write_annotation_bed

    fasta, bed = os.path.join(arm.directory, "payloads.fa"), os.path.join(arm.directory, "annotation.bed")
    write_fasta(fasta, ((fasta_key(name), sequence) for sequence, name, _ in arm.payloads), index=False)
    write_annotation_bed(bed, [(name, group, sequence, find_motif_sites(sequence)) for sequence, name, group in arm.payloads])
    return fasta, bed


def _write_examples(plan, directory: str) -> Dict[str, str]:
    """The plan's payload records per split (the make-dataset records, written in-process)."""
    import tensorflow as tf

    from components.payload_example_gen import transform

    writers = {}
    for split in plan.split_names:
        os.makedirs(transform.split_dir(directory, split), exist_ok=True)
        writers[split] = tf.io.TFRecordWriter(os.path.join(transform.split_dir(directory, split), "data.gz"), "GZIP")
    for shard in range(plan.num_shards):
        for payload, construct in transform.iter_shard_constructs(plan, shard):
            record = transform.payload_record(plan, payload, construct)
            for split in payload.splits:
                writers[split].write(record)
    for writer in writers.values():
        writer.close()
    return {split: os.path.join(transform.split_dir(directory, split), "*") for split in plan.split_names}


def _train(arm: Arm, s: LoopSettings, reference: str, context: str, round_index: int, warm_start: str) -> str:
    from components.payload_example_gen.constructs import plan_dataset
    from trainer.run import train_payload_model
    from trainer.settings import ModelConfig, TrainingConfig

    fasta, bed = _write_inputs(arm)
    plan = plan_dataset(arm.spans, fasta, reference, context, bed, s.construct_length, s.window_length,
                        seed=s.seed, folds={"train": 9, "eval": 1}, num_eval_offsets=2)
    work = os.path.join(arm.directory, f"round-{round_index}")
    files = _write_examples(plan, os.path.join(work, "examples"))
    serving = os.path.join(work, "model", "Format-Serving")
    model_config = ModelConfig(preset=s.preset, baseline="random", pooling="mean", window_length=s.window_length,
                               ensemble=s.ensemble)
    training = TrainingConfig(learning_rate=s.learning_rate, lr_schedule="cosine", epochs=s.epochs, steps=s.steps,
                              batch=s.train_batch, seed=s.seed + round_index, warm_start=bool(warm_start))
    train_payload_model(model_config, training, [files["train"]], [files["eval"]], work, serving,
                        warm_start=warm_start or None)
    return serving


def _score(serving: str, sequences: Sequence[str], flanks: Tuple[str, str], s: LoopSettings):
    from components.designer import scoring
    from trainer.predict.predictor import ACTIVITY, load_predictor

    predictor = load_predictor(serving, {ACTIVITY: None, scoring.MEMBERS: None}, strict=False)
    return scoring.score_sequences(list(sequences), predictor, flanks[0], flanks[1], s.construct_length,
                                   predictor.input_length, shifts=1, reverse_complement=True)


def run_loop(s: LoopSettings, workdir: str, plot_path: str) -> Dict[str, object]:
    from components import genome
    from components.correlation import pearson_r
    from components.designer import design
    from components.payload_example_gen.constructs import fasta_key, locus_flanks
    from pipeline.demo_data import activity_from_sequence, generate_demo_data

    started = time.time()
    world = os.path.join(workdir, "world")
    manifest = generate_demo_data(world, seed=s.seed, scale=s.scale)
    reference, context = os.path.join(world, "reference.fa"), str(manifest["context"])
    table_names = {}  # FASTA key -> (table name, group)
    with open(os.path.join(world, "activity.tsv")) as handle:
        next(handle)
        for line in handle:
            fields = line.split("\t")
            table_names[fasta_key(fields[0])] = (fields[0], fields[1])
    # Payloads that fit the construct (the demo's few 30 kb payloads would be centre-trimmed).
    library = [(sequence, *table_names[fasta_key(name)])
               for name, sequence, _ in genome.iter_fasta(os.path.join(world, "payloads.fa"))
               if len(sequence) <= s.construct_length]
    rng = np.random.default_rng(s.seed)
    order = rng.permutation(len(library))
    initial = [library[i] for i in order[:s.initial]]
    test = [library[i] for i in order[s.initial:s.initial + s.test]]
    truth = {seq: activity_from_sequence(seq) for seq, _, _ in library}
    # Flanks sized for a 1 bp payload fit every payload (build_construct takes what it needs).
    flanks = locus_flanks(reference, context, {"shortest": 1}, s.construct_length)

    first_span = os.path.join(workdir, "span-1.activity.tsv")
    _assay(np.random.default_rng(s.seed + 1), first_span, initial)
    arms = {name: Arm(name, os.path.join(workdir, name), list(initial), [first_span]) for name in ("designed", "random")}
    for arm in arms.values():
        os.makedirs(arm.directory, exist_ok=True)
    initial_best = max(truth[seq] for seq, _, _ in initial)

    def test_r(serving: str) -> float:
        mean, _ = _score(serving, [seq for seq, _, _ in test], flanks, s)
        return pearson_r(mean, np.array([truth[seq] for seq, _, _ in test]))

    LOG.info("round 0: training on the initial library (%d payloads)", len(initial))
    shared = os.path.join(workdir, "shared")
    os.makedirs(shared, exist_ok=True)
    model0 = _train(Arm("shared", shared, list(initial), [first_span]), s, reference, context, 0, s.start_model)
    r0 = test_r(model0)
    rows: List[Dict[str, object]] = [{"round": 0, "arm": arm, "batch_true_mean": float(np.mean(
        [truth[seq] for seq, _, _ in initial])), "best_so_far": initial_best, "test_r": r0} for arm in arms]
    for arm in arms.values():
        arm.model = model0
    for round_index in range(1, s.rounds + 1):
        for arm in arms.values():
            # Parents: the best *measured* payloads (the lab's view: replicate means, not the rule).
            means = _measured_means(arm)
            top = sorted({name for _, name, _ in arm.payloads}, key=lambda n: -means.get(n, -1.0))[:s.parents]
            fasta, bed = _write_inputs(arm)
            options = design.DesignOptions(parents=tuple(top), candidates=s.candidates, batch_size=s.batch,
                                           acquisition=s.acquisition if arm.name == "designed" else "greedy",
                                           beta=s.beta, construct_length=s.construct_length,
                                           seed=s.seed + round_index, group=f"round{round_index}")
            prepared = design.prepare(fasta, bed, reference, context, options)
            if arm.name == "designed":
                mean, sd = _score(arm.model, [c.sequence for c in prepared.candidates],
                                  (prepared.left_flank, prepared.right_flank), s)
                chosen = [p.candidate for p in design.propose(prepared, mean, sd, options)]
            else:
                picks = np.random.default_rng(s.seed + 100 + round_index).permutation(len(prepared.candidates))
                chosen = [prepared.candidates[i] for i in picks[:s.batch]]
            batch = [(c.sequence, f"r{round_index}.{c.name}", f"round{round_index}") for c in chosen]
            for seq, _, _ in batch:
                truth[seq] = activity_from_sequence(seq)
            span = os.path.join(arm.directory, f"span-{round_index + 1}.activity.tsv")
            _assay(np.random.default_rng(s.seed + 10 * round_index + (arm.name == "random")), span, batch)
            arm.payloads += batch
            arm.spans.append(span)
            LOG.info("round %d %s: batch true mean %.3f; retraining on %d payloads", round_index, arm.name,
                     np.mean([truth[seq] for seq, _, _ in batch]), len(arm.payloads))
            arm.model = _train(arm, s, reference, context, round_index, arm.model)
            rows.append({"round": round_index, "arm": arm.name,
                         "batch_true_mean": float(np.mean([truth[seq] for seq, _, _ in batch])),
                         "best_so_far": float(max(truth[seq] for seq, _, _ in arm.payloads)),
                         "test_r": test_r(arm.model)})
    _plot(rows, plot_path)
    last = {row["arm"]: row for row in rows if row["round"] == s.rounds}
    designed_means = [r["batch_true_mean"] for r in rows if r["arm"] == "designed" and r["round"] >= 1]
    random_means = [r["batch_true_mean"] for r in rows if r["arm"] == "random" and r["round"] >= 1]
    return {
        "settings": dataclasses.asdict(s),
        "rows": rows,
        "initial_library_best": initial_best,
        "designed_over_random_batch_mean": float(np.mean(designed_means) / max(np.mean(random_means), 1e-9)),
        "last_round_ratio": float(last["designed"]["batch_true_mean"] / max(last["random"]["batch_true_mean"], 1e-9)),
        "designed_best_beats_initial": bool(last["designed"]["best_so_far"] > initial_best),
        "designed_test_r_not_falling": bool(last["designed"]["test_r"] >= r0 - 0.02),
        "seconds": round(time.time() - started, 1),
        "plot": plot_path,
    }


def _measured_means(arm: Arm) -> Dict[str, float]:
    from components.payload_example_gen.constructs import read_activity_tables

    return {entry.name: entry.activity for entry in read_activity_tables(arm.spans)}


def _plot(rows: Sequence[Dict[str, object]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for axis, key, title in zip(axes, ("batch_true_mean", "best_so_far", "test_r"),
                                ("true mean activity of the batch", "best true activity so far", "held-out r (test set)")):
        for arm, style in (("designed", "o-"), ("random", "s--")):
            points = [(row["round"], row[key]) for row in rows if row["arm"] == arm]
            axis.plot([p[0] for p in points], [p[1] for p in points], style, label=arm)
        axis.set_title(title)
        axis.set_xlabel("round")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def default_settings() -> LoopSettings:
    """README settings when ``make demo`` has pushed a model, else a tiny model from random weights."""
    versions = sorted((v for v in os.listdir(DEMO_SERVING) if v.isdigit()), key=int) if os.path.isdir(DEMO_SERVING) else []
    if versions:
        return LoopSettings(**README_SETTINGS, start_model=os.path.join(DEMO_SERVING, versions[-1]))
    return LoopSettings()


def run(quick: bool = False, settings: LoopSettings = None, outdir: str = "out/bench") -> Dict[str, object]:
    settings = settings or (QUICK if quick else default_settings())
    os.makedirs(outdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="bench-design-loop-")
    try:
        return run_loop(settings, workdir, os.path.join(outdir, "design_loop.png"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(LoopSettings):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    parser.add_argument("--outdir", default="out/bench")
    args = vars(parser.parse_args(argv))
    outdir = args.pop("outdir")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = run(settings=LoopSettings(**args), outdir=outdir)
    print(json.dumps(result, indent=2))
    with open(os.path.join(outdir, "bench_design_loop.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
