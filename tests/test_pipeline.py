"""The learning loop: config validation, trainer resume, embedding cache, end-to-end pipeline."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, List

import numpy as np
import pytest
import tensorflow as tf
import yaml

from components.records import parse_track_record, read_split
from components.genome import write_fasta
from components.errors import InputError
from pipeline.config import load_config

WINDOW = 1280
CONSTRUCT = 1536


# ---------------------------------------------------------------------------------------------
# A tiny, quickly learnable payload assay: activity is a function of payload GC content, which a
# tiny Enformer picks up in a few dozen steps, so "good" and "bad" models are easy to tell apart.
# ---------------------------------------------------------------------------------------------
def write_gc_assay(directory: str, n_payloads: int = 60, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    records, rows = [], ["MenDel.Name\tgroups\tfoldchange\tactivity"]
    for index in range(n_payloads):
        gc = rng.uniform(0.2, 0.8)
        probabilities = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        sequence = "".join(rng.choice(list("ACGT"), size=1000, p=probabilities))
        name = f"gc{index:03d}"
        records.append((name, sequence))
        activity = 2.0 * (sequence.count("G") + sequence.count("C")) / len(sequence)
        for _ in range(2):
            rows.append(f"{name}\tgroup{index % 4}\t0\t{activity + rng.normal(0, 0.02):.4f}")
    write_fasta(os.path.join(directory, "payloads.fa"), records, index=False)
    with open(os.path.join(directory, "activity.tsv"), "w") as handle:
        handle.write("\n".join(rows) + "\n")


def pipeline_config(tmp: str, demo_data: str, context: str, **training) -> dict:
    return {
        "pipeline_name": "test-loop",
        "pipeline_root": os.path.join(tmp, "root"),
        "beam_pipeline_args": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
        "payloads": {
            "activity_table": os.path.join(tmp, "assays", "batch-{SPAN}", "activity.tsv"),
            "payload_fasta": os.path.join(tmp, "assays", "batch-{SPAN}", "payloads.fa"),
            "reference_fasta": os.path.join(demo_data, "reference.fa"),
            "context": context,
            "construct_length": CONSTRUCT,
            "window_length": WINDOW,
            "folds": {"train": 3, "eval": 1},
            "seed": 1,
        },
        "model": {"preset": "tiny", "baseline": "random", "pooling": "mean", "window_length": WINDOW},
        "training": {"mode": "finetune", "learning_rate": 0.003, "epochs": 2, "steps": 25, "batch": 8, **training},
        "evaluation": {"min_pearson_r": 0.3, "max_pearson_r_drop": 0.0},
        "push": {"destination": os.path.join(tmp, "serving")},
    }


def write_config(path: str, config: dict) -> str:
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return path


# ---------------------------------------------------------------------------------------------
# Config validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c["training"].update(learnin_rate=1), "training.learnin_rate: unknown key"),
        (lambda c: c["training"].update(epochs="ten"), "training.epochs: expected an integer"),
        (lambda c: c["training"].update(mode="magic"), "training.mode: expected one of"),
        (lambda c: c["payloads"].update(contxt="chr3:1-2"), "payloads.contxt: unknown key"),
        (lambda c: c["payloads"].pop("context"), "payloads.context: required key is missing"),
        (lambda c: c["model"].update(window_length=1000), "model.window_length: must be a multiple of 128"),
        (lambda c: c.pop("payloads"), "payloads: required when training.mode is 'finetune'"),
        (lambda c: c.update(runner="kubeflow"), "runner: expected one of"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, message):
    config = pipeline_config(str(tmp_path), "/data", "chr3:1-100")
    change(config)
    path = write_config(str(tmp_path / "bad.yaml"), config)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path)


def test_config_overrides_and_defaults(tmp_path):
    path = write_config(str(tmp_path / "ok.yaml"), pipeline_config(str(tmp_path), "/data", "chr3:1-100"))
    config = load_config(path, ["training.epochs=7", "model.num_heads=4"])
    assert config.training.epochs == 7 and config.model.num_heads == 4
    assert config.metadata_path == os.path.join(str(tmp_path), "root", "metadata.sqlite")
    with pytest.raises(InputError, match="KEY=VALUE"):
        load_config(path, ["training.epochs"])


def test_evaluator_takes_the_blessed_baseline_only_to_compare_with_it():
    """``max_pearson_r_drop: null`` (the demo's pretraining stage) wires no baseline into the
    Evaluator and, with ``warm_start: false``, none into the Trainer: a rerun's inputs are the
    first run's, so the TFX cache serves it."""
    from pipeline.pipeline import create_pipeline

    configs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipeline", "configs")
    pretrain = {c.id: c for c in create_pipeline(load_config(os.path.join(configs, "demo_pretrain.yaml"))).components}
    demo = {c.id: c for c in create_pipeline(load_config(os.path.join(configs, "demo.yaml"))).components}
    assert "baseline_model" not in pretrain["Evaluator"].inputs and "base_model" not in pretrain["Trainer"].inputs
    assert demo["Evaluator"].inputs["baseline_model"] is demo["latest_blessed_model_resolver"].outputs["model"]
    assert demo["Trainer"].inputs["base_model"] is demo["latest_blessed_model_resolver"].outputs["model"]


# ---------------------------------------------------------------------------------------------
# Trainer: resume and the embedding cache
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gc_dataset(tmp_path_factory, demo_data, demo_manifest):
    """make-dataset output (TFRecords) of a small GC assay (24 payloads: the ``train`` CLI test
    needs a few batches and an eval split, not a learnable amount) spliced into the demo reference."""
    from pipeline.cli import main

    root = str(tmp_path_factory.mktemp("gc_dataset"))
    write_gc_assay(root, n_payloads=24)
    status = main([
        "make-dataset", os.path.join(root, "activity.tsv"), os.path.join(root, "payloads.fa"),
        "--reference", os.path.join(demo_data, "reference.fa"), "--context", demo_manifest["context"],
        "--length", str(CONSTRUCT), "--window", str(WINDOW), "--folds", "train=3", "eval=1",
        "--output", os.path.join(root, "gc.tsv"),
    ])
    assert status == 0
    return os.path.join(root, "gc.examples")


@pytest.mark.slow
def test_train_cli_trains_exports_and_resumes_after_interruption(tmp_path, gc_dataset, capsys):
    """``train`` refuses to start without a baseline, trains one epoch (the "interrupted" run) and,
    rerun with two epochs, continues from the epoch-1 checkpoint instead of starting over."""
    from pipeline.cli import main
    from trainer.training import read_training_log

    model_dir = str(tmp_path / "model")
    args = ["train", model_dir, gc_dataset, "--preset", "tiny", "--pooling", "mean", "--length", str(WINDOW),
            "--steps", "3", "--batch", "4", "--learning-rate", "0.003", "--seed", "3"]
    assert main(args + ["--epochs", "1"]) == 2, "no --baseline and no $ENFORMERBASELINE: refused, never silently random"
    assert "--baseline is required" in capsys.readouterr().err
    assert main(args + ["--epochs", "1", "--baseline", "random"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "epoch\ttrain_loss\tvalid_loss\tvalid_pearson_r" and printed[1].startswith("1\t")
    log_path = os.path.join(model_dir, "training_log.tsv")
    first = read_training_log(log_path)
    assert [int(row["epoch"]) for row in first] == [1]

    assert main(args + ["--epochs", "2", "--baseline", "random"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in printed[1:-1]] == ["2"], "the rerun continues from the epoch-1 checkpoint"
    rows = read_training_log(log_path)
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert rows[0]["train_loss"] == pytest.approx(first[0]["train_loss"], rel=1e-5), "epoch 1 is not redone"
    # Adam's step counter went on from 3 to 6: optimiser state came back from the checkpoint.
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    assert tf.train.load_variable(latest, "optimizer/step/.ATTRIBUTES/VARIABLE_VALUE") == 6
    assert tf.train.load_variable(latest, "epoch/.ATTRIBUTES/VARIABLE_VALUE") == 2
    serving = os.path.join(model_dir, "model", "Format-Serving")
    assert "predict_one_hot" in tf.saved_model.load(serving).signatures
    for name in ("training_curve.png", "training_log.tsv"):
        assert os.path.exists(os.path.join(model_dir, "model", name))
    assert tf.io.gfile.glob(os.path.join(model_dir, "logs", "events.out.tfevents.*"))
    assert main(["train", model_dir, str(tmp_path / "nowhere")] + args[3:] + ["--baseline", "random"]) == 2


@pytest.fixture(scope="module")
def track_examples(tmp_path_factory, demo_data):
    from pipeline.cli import main

    prefix = str(tmp_path_factory.mktemp("tracks") / "dataset")
    status = main([
        "make-track-dataset", "--reference", os.path.join(demo_data, "reference.fa"), "--length", str(WINDOW),
        "--width", "128", "--size", "24", "--batches", "1", "--seed", "2", "--eval-chroms", "chrX",
        "--prefix", prefix, os.path.join(demo_data, "mappable.bed"), os.path.join(demo_data, "tracks.tsv"),
    ])
    assert status == 0
    return prefix


@pytest.mark.slow
def test_embedding_cache_runs_trunk_once_and_matches_uncached_training(tmp_path, track_examples):
    import sonnet as snt

    from components.genome import reverse_complement_codes
    from trainer.embedding_cache import EmbeddingCache
    from trainer.enformer import build_enformer
    from trainer.heads import TrackModel

    tf.random.set_seed(0)
    enformer = build_enformer("tiny")
    n_tracks = 4
    model = TrackModel(enformer, n_tracks)
    initial = [v.numpy().copy() for v in model.head_variables]
    cache = EmbeddingCache(str(tmp_path / "cache"), os.path.join(track_examples, "Split-train", "*"), n_tracks,
                           lambda x: enformer.trunk(x, is_training=False), strands=2, batch_size=8)
    built_calls = cache.trunk_calls
    assert built_calls > 0

    def train_head(cached: bool) -> list:
        for variable, value in zip(model.head_variables, initial):
            variable.assign(value)
        optimizer = snt.optimizers.Adam(1e-2)
        batches = cache.batches(batch_size=4, seed=5, reverse_complement=True, cached=cached)
        for _ in range(2 * (len(cache) // 4)):  # two epochs
            embedding, target = next(batches)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.head(embedding) - target * tf.math.log(model.head(embedding) + 1e-6))
            optimizer.apply(tape.gradient(loss, model.head_variables), model.head_variables)
        return [v.numpy().copy() for v in model.head_variables]

    cached_weights = train_head(cached=True)
    assert cache.trunk_calls == built_calls, "training from the cache must not run the trunk"
    uncached_weights = train_head(cached=False)
    assert cache.trunk_calls > built_calls
    for a, b in zip(cached_weights, uncached_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

    # A second cache object over the same directory reuses the stored embeddings.
    again = EmbeddingCache(str(tmp_path / "cache"), os.path.join(track_examples, "Split-train", "*"), n_tracks,
                           lambda x: enformer.trunk(x, is_training=False), strands=2)
    assert again.trunk_calls == 0
    # The stored reverse-complement embedding is the trunk's output on the RC window.
    rc_window = reverse_complement_codes(cache.codes[0])
    direct = enformer.trunk(tf.one_hot(rc_window[None].astype(np.int32), 4), is_training=False)
    np.testing.assert_allclose(cache.embeddings[0, 1], direct[0].numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# End to end: BeamDagRunner, ML Metadata, caching, blessing and pushing
# ---------------------------------------------------------------------------------------------
def _executions_by_component(metadata_path: str) -> dict:
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(metadata_path))
    counts: dict = {}
    for context in store.get_contexts_by_type("node"):  # one context per pipeline node
        component = context.name.split(".")[-1]
        for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
            counts.setdefault(component, []).append("cached" if execution.last_known_state == execution.CACHED else "run")
    return counts


def attribution_snapshot(config) -> dict:
    """Right after a run: its newest Interpreter artifact, the ids of the newest Model, ModelBlessing
    and Examples, and the report line the run summary prints."""
    from components.interpret.params import ARTIFACT_TYPE
    from pipeline.report import attribution_report_line, latest_artifact

    return {"report": latest_artifact(config, ARTIFACT_TYPE), "line": attribution_report_line(config),
            "inputs": {t: latest_artifact(config, t) for t in ("Model", "ModelBlessing", "Examples")}}


def check_attribution_report(run, blessed: bool) -> None:
    """The Interpreter artifact of one loop run: in ML Metadata with its lineage, and valid files.

    Blessed: the first ``interpret.payloads`` held-out names (sorted) of the run's Examples, with
    a bedGraph in payload coordinates and npz arrays of payload length. Not blessed: only a
    summary saying so.
    """
    import json

    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from tfx.orchestration import metadata

    from components.genome import iter_fasta
    from components.records import NAME, parse_payload_record

    config, report, newest = run.config, run.attribution["report"], run.attribution["inputs"]
    assert report is not None, "no AttributionReport artifact in ML Metadata"
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(config.metadata_path))
    events = store.get_events_by_artifact_ids([report.id])
    (producer,) = [e.execution_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT]
    inputs = {e.artifact_id for e in store.get_events_by_execution_ids([producer])
              if e.type == metadata_store_pb2.Event.INPUT}
    for type_name in ("Model", "ModelBlessing", "Examples"):  # this run's model, its blessing, its examples
        assert newest[type_name].id in inputs, type_name
    summary = json.load(open(os.path.join(report.uri, "summary.json")))
    assert summary["blessed"] is blessed, summary
    if not blessed:
        assert os.listdir(report.uri) == ["summary.json"] and "not bless" in summary["reason"]
        assert "the model is not blessed" in run.attribution["line"]
        return
    examples = newest["Examples"]
    held_out = sorted({parse_payload_record(r)[NAME] for r in read_split(examples.uri, "eval")})
    chosen = held_out[:config.interpret.payloads]
    assert [p["name"] for p in summary["payloads"]] == chosen and summary["held_out"] == len(held_out)
    assert run.attribution["line"].startswith(f"attribution report ({config.interpret.method} of held-out {', '.join(chosen)})")
    sequences = {name: seq for name, seq, _ in iter_fasta(config.payloads.payload_fasta.replace("{SPAN}", "1"))}
    data = np.load(os.path.join(report.uri, "attribution.npz"))
    assert list(data["payloads"]) == chosen
    for name in chosen:
        size = len(sequences[name])
        assert data[f"{name}/scores"].shape == (size,) and data[f"{name}/codes"].shape == (size,)
        assert data[f"{name}/gradient" if summary["method"] == "saliency" else f"{name}/deltas"].shape == (size, 4)
        assert os.path.getsize(os.path.join(report.uri, f"attribution.{name}.png")) > 0
    with open(os.path.join(report.uri, "attribution.bedgraph")) as handle:
        rows = [(c, int(s), int(e)) for c, s, e, _ in (line.split("\t") for line in handle)]
    assert rows == sorted(rows) and {c for c, _, _ in rows} == set(chosen)
    assert all(0 <= s < e <= len(sequences[c]) for c, s, e in rows)
    for name in chosen:  # contiguous runs covering the whole payload (it fits in the window)
        mine = [(s, e) for c, s, e in rows if c == name]
        assert mine[0][0] == 0 and mine[-1][1] == len(sequences[name])
        assert all(a[1] == b[0] for a, b in zip(mine, mine[1:]))


@dataclasses.dataclass(frozen=True)
class LoopRun:
    """What one run of the shared local loop left behind, read right after that run."""

    config: Any  # the PipelineConfig the run used
    summary: dict  # latest_summary: the run's evaluation (pearson_r, blessed, uri, ...)
    pushed: list  # pushed model directories, oldest first
    counts: dict  # component -> ["run" | "cached", ...], one entry per execution so far
    attribution: dict  # attribution_snapshot: the newest Interpreter report and what it was made from
    config_path: str  # the loop's config file
    killed: Any = None  # tests.console_run.KilledRun: run 3's first process, killed during training
    console: str = ""  # run 3's rerun: what its ``enformer-tfx run`` process printed


def run_payload_loop(tmp: str, demo_data: str, context: str) -> List[LoopRun]:
    """Three local runs over one pipeline root, as a lab would run the loop (the suite runs it once):

    1. batch 1 of learnable data, no baseline -> value threshold only -> blessed and pushed;
    2. the same data (cached upstream) and a deliberately worse model (random init, barely trained,
       no warm start) -> fails "no worse than the latest blessed model" -> nothing pushed;
    3. the lab adds batch 2 (``enformer-tfx run`` in a child process, allowed drop 0.1) -> span 2
       ingested, the Trainer warm-starts from run 1's blessed model and the Evaluator compares
       against it. That process is killed once the Trainer saved its first epoch; the rerun (a
       child process too) resumes the Trainer (both consoles and the recovery: tests/test_hardening.py).
    """
    from pipeline.pipeline import run_locally
    from pipeline.report import latest_summary, pushed_models
    from tests.console_run import kill_after_saved_epoch, run_cli

    write_gc_assay(os.path.join(tmp, "assays", "batch-1"), seed=0)
    loop = pipeline_config(tmp, demo_data, context)
    loop["interpret"] = {"payloads": 2, "method": "saliency"}  # the optional attribution step, checked below
    config_path = write_config(os.path.join(tmp, "loop.yaml"), loop)
    runs = []

    def record(config, **interrupted) -> None:
        runs.append(LoopRun(config, latest_summary(config), pushed_models(config),
                            _executions_by_component(config.metadata_path), attribution_snapshot(config),
                            config_path, **interrupted))

    config = load_config(config_path)
    run_locally(config)
    record(config)
    worse = load_config(config_path, ["training.warm_start=false", "training.epochs=1", "training.steps=1",
                                      "training.learning_rate=1e-9", "evaluation.min_pearson_r=-1.0"])
    run_locally(worse)
    record(worse)
    write_gc_assay(os.path.join(tmp, "assays", "batch-2"), seed=1)
    # A new batch may be a little harder; two epochs, so there is a saved epoch to resume after.
    new_batch = ["evaluation.max_pearson_r_drop=0.1", "training.epochs=2"]
    argv = ["run", "--config", config_path, *[arg for o in new_batch for arg in ("--set", o)]]
    killed = kill_after_saved_epoch(argv, config.pipeline_root, config.metadata_path, os.path.join(tmp, "killed.log"))
    rerun = run_cli(argv)
    assert rerun.returncode == 0, rerun.stdout
    record(load_config(config_path, new_batch), killed=killed, console=rerun.stdout)
    return runs


@pytest.mark.slow
def test_pipeline_end_to_end_blesses_good_and_rejects_worse(payload_loop):
    from trainer.export import read_metadata

    # Run 1: learnable data, no baseline -> value threshold only -> blessed and pushed.
    first, pushed, counts = payload_loop[0].summary, payload_loop[0].pushed, payload_loop[0].counts
    assert first["blessed"] is True and first["pearson_r"] > 0.3, first
    assert len(pushed) == 1
    reloaded = tf.saved_model.load(pushed[0])
    assert "serving_default" in reloaded.signatures
    assert read_metadata(pushed[0])["mode"] == "finetune"
    assert os.path.exists(os.path.join(first["uri"], "scatter.png"))
    for component in ("PayloadExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Trainer",
                      "Evaluator", "Pusher", "Interpreter"):
        assert counts.get(component) == ["run"], (component, counts)
    check_attribution_report(payload_loop[0], blessed=True)

    # Run 2: same data (cached upstream), a deliberately worse model: random init, barely
    # trained, no warm start -> fails "no worse than the latest blessed model" -> not pushed.
    second, counts = payload_loop[1].summary, payload_loop[1].counts
    assert second["blessed"] is False, second
    assert second["pearson_r"] < first["pearson_r"]
    assert payload_loop[1].pushed == pushed, "nothing new is pushed"
    check_attribution_report(payload_loop[1], blessed=False)
    assert counts["PayloadExampleGen"] == ["run", "cached"]
    assert counts["StatisticsGen"] == ["run", "cached"]
    assert counts["Trainer"] == ["run", "run"]
    check_history_and_model_card(payload_loop)


def check_history_and_model_card(payload_loop: list) -> None:
    """`enformer-tfx history` on the loop's three rounds (real SQLite ML Metadata) and the card
    pushed with the first round's model."""
    import json
    import math

    from components.model_card.card import CARD_JSON, CARD_MARKDOWN
    from pipeline.cli import main
    from pipeline.history import format_rounds, open_store, read_rounds

    first, second, third = (run.summary for run in payload_loop)
    pushed, config_path = payload_loop[0].pushed, payload_loop[0].config_path
    config = load_config(config_path)
    rounds = read_rounds(open_store(config.metadata_path), config.pipeline_name)
    assert len(rounds) == 4, "run 3's killed process is a round of its own"
    killed = rounds.pop(2)
    assert killed.spans == rounds[2].spans and killed.states["Trainer"] == "failed", killed
    assert killed.pushed_version is None and killed.model is None, killed
    for round_, summary in zip(rounds, (first, second, third)):
        for key in ("pearson_r", "spearman_rho", "mse"):
            assert math.isclose(getattr(round_, key), summary[key], rel_tol=0, abs_tol=0), (key, round_, summary)
        assert round_.blessed is summary["blessed"] and not round_.cached
    assert rounds[0].spans == rounds[1].spans == [1] and 2 in rounds[2].spans
    assert rounds[0].states["PayloadExampleGen"] == "ran" and rounds[1].states["PayloadExampleGen"] == "cached"
    assert rounds[0].pushed_version == os.path.basename(pushed[0]) and rounds[1].pushed_version is None
    assert (rounds[2].pushed_version is not None) is third["blessed"]
    assert rounds[1].model != rounds[0].model and rounds[1].parent is None, "round 2 ran without warm start"
    assert rounds[2].parent == rounds[0].model, "round 3 warm-started from round 1's blessed model"
    table = format_rounds(rounds).splitlines()
    assert table[0].split() == ["run", "spans", "model", "parent", "r", "rho", "MSE", "blessed", "pushed", "cached"]
    assert f"{first['pearson_r']:.3f}" in table[1] and os.path.basename(pushed[0]) in table[1]
    assert main(["history", "--config", config_path, "--json"]) == 0

    with open(os.path.join(pushed[0], CARD_JSON)) as handle:
        card = json.load(handle)
    assert card["data"]["spans"] == [1] and card["data"]["fingerprints"][0].startswith("split:activity")
    assert card["metrics"]["pearson_r"] == first["pearson_r"] and card["metrics"]["n"] == first["n"]
    assert card["blessed"] is True and card["parent_model"] is None and card["model"] == rounds[0].model_uri
    assert card["config"]["training"]["epochs"] == 2 and card["config"]["model"]["preset"] == "tiny"
    with open(os.path.join(pushed[0], CARD_MARKDOWN)) as handle:
        markdown = handle.read()
    assert f"| pearson_r | {first['pearson_r']:.4g} |" in markdown and "tf.saved_model.load" in markdown


def run_track_pipeline(tmp: str, demo_data: str, context: str):
    """tracks mode end to end on the demo's bigWigs (a background job of the suite, tests.background;
    ``context`` unused): BigWigTrackGen -> Trainer (embedding cache) -> TFMA; returns the config."""
    from pipeline.pipeline import run_locally

    config = pipeline_config(tmp, demo_data, "chr3:1-2", mode="tracks", learning_rate=0.02, epochs=2, steps=30)
    del config["payloads"]
    config["tracks"] = {
        "reference": os.path.join(demo_data, "reference.fa"), "mappable_bed": os.path.join(demo_data, "mappable.bed"),
        "tracks": os.path.join(demo_data, "tracks.tsv"), "length": WINDOW, "size": 24, "seed": 2,
        "eval_chroms": ["chrX"],
    }
    config["evaluation"] = {"min_pearson_r": 0.0, "max_pearson_r_drop": None}
    loaded = load_config(write_config(os.path.join(tmp, "tracks.yaml"), config))
    run_locally(loaded)
    return loaded


def test_track_pipeline_trains_head_from_cache_and_evaluates_per_track(track_run, demo_data, capsys):
    """:func:`run_track_pipeline`: the head trained from the embedding cache, TFMA's mean track r."""
    from pipeline.report import latest_artifact, print_run_summary, pushed_models, tfma_metrics

    loaded = track_run
    tmp = os.path.dirname(loaded.pipeline_root)
    values = tfma_metrics(latest_artifact(loaded, "ModelEvaluation").uri)
    assert len(pushed_models(loaded)) == 1  # r above the floor 0: blessed and pushed
    model_dir = pushed_models(loaded)[0]
    model = tf.saved_model.load(model_dir)
    assert {"serving_default", "predict_one_hot", "decode_target"} <= set(model.signatures)

    # The Evaluator's number, recomputed in NumPy from the pushed model on the eval records; and
    # the head learned bin-level signal (weakly: a tiny random trunk, r ~ 0.04 here): its r drops
    # when each window's target bins are reversed, which an untrained or misaligned head would not show.
    with open(os.path.join(demo_data, "tracks.tsv")) as handle:
        n_tracks = len(handle.read().strip().splitlines()) - 1
    windows = [parse_track_record(r, n_tracks) for r in read_split(latest_artifact(loaded, "Examples").uri, "eval")]
    one_hot = tf.one_hot(np.stack([w["sequence"] for w in windows]).astype(np.int32), 4)
    predicted = model.signatures["predict_one_hot"](one_hot=one_hot)["tracks"].numpy().astype(np.float64)
    targets = np.stack([w["target"] for w in windows]).astype(np.float64)

    def mean_r(labels: np.ndarray) -> float:
        return float(np.mean([np.corrcoef(labels[..., t].ravel(), predicted[..., t].ravel())[0, 1] for t in range(n_tracks)]))

    learned, misaligned = mean_r(targets), mean_r(targets[:, ::-1, :])
    print(f"mean track r: TFMA {values['mean_track_pearson_r']:.4f}, NumPy {learned:.4f}, bins reversed {misaligned:.4f}")
    assert values["mean_track_pearson_r"] == pytest.approx(learned, abs=1e-4)
    assert learned > 0.0 and learned > misaligned + 0.02, (learned, misaligned)
    cache = tf.io.gfile.glob(os.path.join(tmp, "root", "Trainer", "model_run", "*", "embedding_cache", "train", "complete"))
    assert cache, "the head was trained from the embedding cache"
    # The Evaluator's track report: per-track r (their mean is TFMA's number), windows plot, summary.
    from components.evaluation_report.track_report import read_track_table
    from pipeline.report import latest_summary

    summary = latest_summary(loaded)
    assert summary["kind"] == "tracks" and summary["blessed"] is True and summary["n_windows"] == len(windows)
    rows = read_track_table(summary["uri"])
    assert [row["identifier"] for row in rows] == list(summary["per_track_pearson_r"]) and len(rows) == n_tracks
    assert np.mean([float(row["pearson_r"]) for row in rows]) == pytest.approx(values["mean_track_pearson_r"], abs=1e-4)
    assert os.path.exists(os.path.join(summary["uri"], "track_windows.png"))
    assert print_run_summary(loaded) == 0
    printed = capsys.readouterr().out
    assert "mean track Pearson r=" in printed and "per-track Pearson r: " + rows[0]["identifier"] in printed
