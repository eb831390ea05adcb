"""Track heads: the train-track-head command, the per-track evaluation report, the tracks config forms."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import yaml

from components.errors import InputError

WINDOW = 1280
N_TRACKS = 4  # the demo data's tracks.tsv


# ---------------------------------------------------------------------------------------------
# Config: the CLI forms are accepted (eval_chroms comma string, mappable alias)
# ---------------------------------------------------------------------------------------------
def _tracks_config(tmp_path, **tracks) -> str:
    config = {
        "pipeline_name": "tracks-forms", "pipeline_root": str(tmp_path / "root"),
        "tracks": {"reference": "ref.fa", "mappable_bed": "mappable.bed", "tracks": "tracks.tsv", **tracks},
        "training": {"mode": "tracks"},
    }
    path = str(tmp_path / "tracks.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return path


def test_eval_chroms_accepts_a_list_or_the_cli_comma_string(tmp_path):
    from pipeline.config import load_config

    as_list = load_config(_tracks_config(tmp_path, eval_chroms=["chr19", "chrX"]))
    as_string = load_config(_tracks_config(tmp_path, eval_chroms="chr19,chrX"))
    overridden = load_config(_tracks_config(tmp_path), ["tracks.eval_chroms=chr19, chrX"])
    assert as_list.tracks.eval_chroms == as_string.tracks.eval_chroms == overridden.tracks.eval_chroms == ("chr19", "chrX")
    assert as_string.data_arguments()["eval_chroms"] == ("chr19", "chrX")


def test_mappable_is_an_alias_of_mappable_bed(tmp_path):
    from pipeline.config import load_config

    path = _tracks_config(tmp_path)
    with open(path) as handle:
        raw = yaml.safe_load(handle)
    raw["tracks"]["mappable"] = raw["tracks"].pop("mappable_bed")
    with open(path, "w") as handle:
        yaml.safe_dump(raw, handle)
    config = load_config(path)
    assert config.tracks.mappable_bed == "mappable.bed"
    assert config.data_arguments()["mappable_bed"] == "mappable.bed", "the component gets the canonical name"

    with pytest.raises(InputError) as both:
        load_config(path, ["tracks.mappable_bed=other.bed"])
    assert str(both.value) == "tracks.yaml: tracks.mappable: is another name for mappable_bed; give only one of them"
    raw["tracks"].pop("mappable")
    with open(path, "w") as handle:
        yaml.safe_dump(raw, handle)
    with pytest.raises(InputError) as missing:
        load_config(path)
    assert str(missing.value) == "tracks.yaml: tracks.mappable_bed: required key is missing (also accepted as mappable)"


def test_train_track_head_flags_default_to_the_tracks_training_config():
    from pipeline.cli import build_parser
    from trainer.settings import ModelConfig, TrainingConfig

    args = build_parser().parse_args(["train-track-head", "m", "d"])
    training = TrainingConfig(mode="tracks")
    assert (args.learning_rate, args.lr_schedule, args.epochs, args.steps, args.batch, args.seed, not args.no_rc) == (
        training.resolved_learning_rate, training.lr_schedule, training.epochs, training.steps, training.batch,
        training.seed, training.reverse_complement)
    assert args.preset == ModelConfig().preset


# ---------------------------------------------------------------------------------------------
# The report on known arrays (no model)
# ---------------------------------------------------------------------------------------------
def _batches(measured: np.ndarray, predicted: np.ndarray, size: int):
    from components.evaluation_report.track_report import WindowBatch

    for start in range(0, len(measured), size):
        rows = slice(start, start + size)
        n = len(measured[rows])
        yield WindowBatch(np.array(["chr1"] * n), np.arange(start, start + n) * 1000,
                          np.arange(start, start + n) * 1000 + 640, measured[rows], predicted[rows])


def test_track_report_per_track_r_and_plotted_windows(tmp_path):
    from components.evaluation_report import track_report

    rng = np.random.default_rng(0)
    measured = rng.gamma(2.0, 1.0, size=(7, 5, 3)).astype(np.float32)  # 7 windows, 5 bins, 3 tracks
    measured[4] *= 10  # the most variable windows: 4, then 2
    measured[2] *= 5
    noise = rng.normal(size=measured.shape).astype(np.float32)
    predicted = np.stack([measured[..., 0], -measured[..., 1], noise[..., 2]], axis=-1)
    summary = track_report.write_track_report(_batches(measured, predicted, size=3), ["a", "b", "c"],
                                              str(tmp_path / "one"), windows_plotted=2)
    expected = [np.corrcoef(measured[..., t].ravel(), predicted[..., t].ravel())[0, 1] for t in range(3)]
    rows = track_report.read_track_table(str(tmp_path / "one"))
    assert [row["identifier"] for row in rows] == ["a", "b", "c"]
    np.testing.assert_allclose([float(row["pearson_r"]) for row in rows], expected, atol=1e-5)
    assert expected[0] == pytest.approx(1.0) and expected[1] == pytest.approx(-1.0)
    assert summary["mean_track_pearson_r"] == pytest.approx(np.mean(expected), abs=1e-6)
    assert summary["n_windows"] == 7 and summary["bins"] == 5 and summary["n_tracks"] == 3
    assert summary["plotted_windows"] == ["chr1:4000-4640", "chr1:2000-2640"], "most variable windows first"
    np.testing.assert_allclose(float(rows[0]["measured_sd"]), measured[..., 0].std(), rtol=1e-4)
    with open(tmp_path / "one" / "summary.json") as handle:
        assert json.load(handle)["kind"] == "tracks"
    assert (tmp_path / "one" / "track_windows.png").stat().st_size > 1000

    # Batch boundaries do not change the numbers (streamed co-moments).
    again = track_report.write_track_report(_batches(measured, predicted, size=7), ["a", "b", "c"],
                                            str(tmp_path / "two"), windows_plotted=2)
    assert again["per_track_pearson_r"] == pytest.approx(summary["per_track_pearson_r"], abs=1e-9)

    # Overlapping windows are plotted once: the best of them.
    from components.evaluation_report.track_report import WindowBatch

    same_place = WindowBatch(np.array(["chr1"] * 7), np.full(7, 100), np.full(7, 740), measured, predicted)
    overlapping = track_report.write_track_report([same_place], ["a", "b", "c"], str(tmp_path / "three"))
    assert overlapping["plotted_windows"] == ["chr1:100-740"]


# ---------------------------------------------------------------------------------------------
# train-track-head end to end on tiny data
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def head_dataset(tmp_path_factory, demo_data):
    """A make-track-dataset output on the demo bigWigs: 1,280 bp windows, chrX held out."""
    from pipeline.cli import main

    prefix = str(tmp_path_factory.mktemp("track_head") / "dataset")
    status = main([
        "make-track-dataset", "--reference", os.path.join(demo_data, "reference.fa"), "--length", str(WINDOW),
        "--size", "32", "--seed", "3", "--eval-chroms", "chrX", "--prefix", prefix,
        os.path.join(demo_data, "mappable.bed"), os.path.join(demo_data, "tracks.tsv"),
    ])
    assert status == 0
    return prefix


def test_train_track_head_refuses_missing_baseline_and_non_track_datasets(tmp_path, head_dataset, capsys):
    from pipeline.cli import main

    model_dir = tmp_path / "head"
    assert main(["train-track-head", str(model_dir), head_dataset, "--preset", "tiny"]) == 2
    assert "--baseline is required" in capsys.readouterr().err, "never silently random"
    assert main(["train-track-head", str(model_dir), str(tmp_path / "nowhere"), "--baseline", "random"]) == 2
    assert "no Split-train/ directory" in capsys.readouterr().err
    payload_like = tmp_path / "payload.examples"
    for split in ("Split-train", "Split-eval"):
        (payload_like / split).mkdir(parents=True)
    assert main(["train-track-head", str(model_dir), str(payload_like), "--baseline", "random"]) == 2
    assert "dataset_info.json: missing; this is not a track dataset" in capsys.readouterr().err
    (payload_like / "dataset_info.json").write_text(json.dumps({"length": 1280, "width": 64, "n_tracks": 2}))
    assert main(["train-track-head", str(model_dir), str(payload_like), "--baseline", "random"]) == 2
    assert "the track dataset has 64 bp bins; the Enformer trunk predicts 128 bp bins" in capsys.readouterr().err
    assert not model_dir.exists(), "nothing is written for bad input"


@pytest.mark.slow
def test_train_track_head_writes_a_loadable_head_whose_loss_decreases(tmp_path, head_dataset, demo_data, capsys):
    import tensorflow as tf

    from components.records import parse_track_record, read_split
    from pipeline.cli import main
    from trainer.predict.predictor import TRACKS, load_predictor
    from trainer.training import read_training_log

    model_dir = str(tmp_path / "head")
    assert main(["train-track-head", model_dir, head_dataset, "--baseline", "random", "--preset", "tiny",
                 "--epochs", "3", "--steps", "8", "--batch", "4", "--learning-rate", "0.02"]) == 0
    printed = capsys.readouterr().out
    assert "epoch\ttrain_loss\tvalid_loss" in printed and "held-out windows: n=" in printed

    log = read_training_log(os.path.join(model_dir, "training_log.tsv"))
    assert [int(row["epoch"]) for row in log] == [1, 2, 3]
    assert log[-1]["train_loss"] < log[0]["train_loss"] and log[-1]["valid_loss"] < log[0]["valid_loss"], log
    assert os.path.exists(os.path.join(model_dir, "embedding_cache", "train", "complete"))
    assert tf.io.gfile.glob(os.path.join(model_dir, "logs", "events.out.tfevents.*"))
    assert os.path.exists(os.path.join(model_dir, "model", "training_curve.png"))

    # The export is a track head for predict-regions: [B, L, 4] -> tracks [B, L/128, 4].
    serving = os.path.join(model_dir, "model", "Format-Serving")
    windows = [parse_track_record(r, N_TRACKS) for r in read_split(head_dataset, "eval")]
    one_hot = tf.one_hot(np.stack([w["sequence"] for w in windows]).astype(np.int32), 4).numpy()
    predictor = load_predictor("random", {TRACKS: None}, track_head=serving)
    predicted = predictor(one_hot)[TRACKS]
    assert predicted.shape == (len(windows), WINDOW // 128, N_TRACKS)
    assert np.all(predicted > 0), "softplus head"

    # The report's per-track r is the one recomputed here from the export's predictions.
    from components.evaluation_report.track_report import read_track_table

    report = os.path.join(model_dir, "model", "evaluation")
    rows = read_track_table(report)
    targets = np.stack([w["target"] for w in windows]).astype(np.float64)
    expected = [np.corrcoef(targets[..., t].ravel(), predicted[..., t].ravel())[0, 1] for t in range(N_TRACKS)]
    assert [row["identifier"] for row in rows] == ["DEMO00", "DEMO01", "DEMO02", "DEMO03"]
    np.testing.assert_allclose([float(row["pearson_r"]) for row in rows], expected, atol=1e-3)
    with open(os.path.join(report, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["n_windows"] == len(windows) and summary["kind"] == "tracks"
    assert os.path.exists(os.path.join(report, "track_windows.png"))


# ---------------------------------------------------------------------------------------------
# trunk: train -- the trunk trained on tracks, exported in the published Enformer layout
# ---------------------------------------------------------------------------------------------
def test_trunk_settings_apply_to_tracks_mode_only(tmp_path):
    from pipeline.config import load_config
    from trainer.settings import TrainingConfig

    assert TrainingConfig(mode="tracks", trunk="train", loss="mse").trunk == "train"
    with pytest.raises(InputError, match="trunk: applies to training.mode: tracks only"):
        TrainingConfig(mode="finetune", trunk="train")
    with pytest.raises(InputError, match="loss: applies to training.mode: tracks only"):
        TrainingConfig(mode="finetune", loss="mse")
    with pytest.raises(InputError, match="trunk: expected one of 'frozen' or 'train'"):
        TrainingConfig(mode="tracks", trunk="thaw")
    with pytest.raises(InputError, match="max_shift"):
        TrainingConfig(mode="tracks", max_shift=65)
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "pipeline", "configs", "demo_pretrain.yaml"))
    assert (config.training.trunk, config.training.species, config.model.overrides) == (
        "train", "human", {"heads": {"human": 3}})


def test_shift_codes_moves_the_window_and_pads_with_n():
    from trainer.trunk_training import shift_codes

    codes = np.arange(8, dtype=np.uint8) % 4
    for shift in (-3, -1, 0, 2):
        shifted = shift_codes(codes, shift).numpy()
        expected = np.full(8, 4, np.uint8)
        if shift >= 0:
            expected[shift:] = codes[:8 - shift]
        else:
            expected[:shift] = codes[-shift:]
        np.testing.assert_array_equal(shifted, expected, err_msg=f"shift {shift}")


def test_species_head_must_predict_the_dataset_tracks():
    from trainer.enformer import build_enformer
    from trainer.trunk_training import check_species_head

    enformer = build_enformer("tiny", heads={"human": 3})
    check_species_head(enformer, "human", 3, "data")
    with pytest.raises(InputError) as wrong:
        check_species_head(enformer, "human", 4, "data")
    assert str(wrong.value) == ("data: the track dataset has 4 track(s), but the Enformer's 'human' head predicts 3 "
                                "(heads: {'human': 3}); configure it with model.overrides.heads: {human: 4}")


def _augmentations(one_hot: np.ndarray, codes: np.ndarray, reverse: bool, max_shift: int) -> list:
    """Shifts that turn ``codes`` (reverse complemented if ``reverse``) into the window ``one_hot``."""
    from components.genome import reverse_complement_codes

    matches = []
    for shift in range(-max_shift, max_shift + 1):
        window = np.full_like(codes, 4)  # N
        if shift >= 0:
            window[shift:] = codes[:len(codes) - shift]
        else:
            window[:shift] = codes[-shift:]
        window = reverse_complement_codes(window) if reverse else window
        if np.array_equal(np.eye(5, dtype=np.float32)[window][:, :4], one_hot):
            matches.append((shift, reverse))
    return matches


@pytest.mark.slow
def test_augmented_track_batches_shift_reverse_and_keep_targets_aligned(head_dataset):
    from collections import defaultdict

    from components.records import parse_track_record, read_split, shard_pattern
    from trainer.trunk_training import augmented_track_dataset

    by_target = defaultdict(list)  # target bytes as trained -> (codes, reverse complemented?)
    for record in read_split(head_dataset, "train"):
        window = parse_track_record(record, N_TRACKS)
        target = np.asarray(window["target"], np.float32)
        by_target[target.tobytes()].append((np.asarray(window["sequence"]), False))
        by_target[target[::-1].copy().tobytes()].append((np.asarray(window["sequence"]), True))
    def first_batches() -> list:  # a new dataset each time: one dataset reshuffles per iteration
        return list(augmented_track_dataset([shard_pattern(head_dataset, "train")], N_TRACKS, 4, seed=5,
                                            reverse_complement=True, max_shift=3).take(6).as_numpy_iterator())

    batches, again = first_batches(), first_batches()
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(batches, again))
    seen = set()
    for one_hot, targets in batches:
        assert one_hot.shape == (4, WINDOW, 4) and targets.shape == (4, WINDOW // 128, N_TRACKS)
        for window, target in zip(one_hot, targets):
            matches = [m for codes, reverse in by_target[target.astype(np.float32).tobytes()]
                       for m in _augmentations(window, codes, reverse, 3)]
            assert matches, "every window is a record shifted by <= 3 bp, its target reversed iff it is RC"
            seen.add(matches[0])
    assert {reverse for _, reverse in seen} == {False, True} and len({shift for shift, _ in seen}) > 2


@pytest.mark.slow
def test_train_track_head_trunk_train_exports_the_published_layout(tmp_path, head_dataset):
    import tensorflow as tf

    from pipeline.cli import main
    from trainer import checkpoints
    from trainer.heads import SpeciesHeadModel

    model_dir = str(tmp_path / "trunk")
    assert main(["train-track-head", model_dir, head_dataset, "--baseline", "random", "--preset", "tiny",
                 "--trunk", "train", "--epochs", "2", "--steps", "3", "--batch", "4", "--learning-rate", "0.01"]) == 0
    serving = os.path.join(model_dir, "model", "Format-Serving")

    # The weights are an Enformer checkpoint: exactly the variables of the same configuration.
    source = checkpoints.resolve_model(serving)
    weights = checkpoints.checkpoint_keys(source.weights)
    assert checkpoints.checkpoint_kind(source.weights) is checkpoints.SourceKind.ENFORMER
    layout = checkpoints.enformer_layout("tiny", heads={"human": N_TRACKS})
    assert {k: v for k, v in weights.items() if k != "save_counter"} == layout
    assert checkpoints.config_from_checkpoint(source.weights).heads == {"human": N_TRACKS}

    # --baseline loads it like the published weights (strict restore + assert_consumed) ...
    enformer = checkpoints.load_enformer(serving, config="tiny", heads={"human": N_TRACKS})
    moving_means = [v.numpy() for v in enformer.trunk_module.variables if "moving_mean/average" in v.name]
    assert moving_means and all(np.any(m != 0) for m in moving_means), "the trunk trained (batch-norm statistics moved)"
    # ... and a different head configuration is refused with the keys that differ.
    with pytest.raises(checkpoints.ModelSourceError, match=r"module/_heads/human/_layers/0/w: checkpoint \[96, 4\]"):
        checkpoints.load_enformer(serving, config="tiny")

    # The SavedModel predicts the species head's tracks, as the Python model does.
    one_hot = tf.one_hot(np.random.default_rng(0).integers(0, 4, size=(2, WINDOW)), 4).numpy()
    loaded = tf.saved_model.load(serving)
    assert set(loaded.signatures) == {"serving_default", "predict_one_hot", "decode_target"}, "the Evaluator's labels"
    served = loaded.signatures["predict_one_hot"](one_hot=tf.constant(one_hot))["tracks"]
    expected = SpeciesHeadModel(enformer, "human")(one_hot, is_training=False)
    np.testing.assert_allclose(served.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_full_size_layout_has_the_tiny_layouts_paths_and_the_published_shapes():
    """Variable specs of the full-size Enformer (no weights allocated) against the tiny one's,
    both with the trained trunk's head configuration."""
    import re

    from tests.test_enformer import REFERENCE_KEYS
    from trainer import checkpoints
    from trainer.enformer import REFERENCE_HEADS, REFERENCE_TRAINABLE_PARAMETERS

    heads = {"human": N_TRACKS}
    full = checkpoints.enformer_layout("full", heads=heads)
    tiny = checkpoints.enformer_layout("tiny", heads=heads)
    block = re.compile(r"^(module/_trunk/_layers/2/_layers/)(\d+)/")
    # The same paths but for the number of transformer blocks (11 vs 1), every one of the same rank.
    assert {block.sub(r"\g<1>0/", key) for key in full} == set(tiny)
    assert {match.group(2) for key in full for match in [block.match(key)] if match} == {str(i) for i in range(11)}
    assert all(len(full[key]) == len(shape) for key, shape in tiny.items())
    # Trunk shapes as published; the species head reads the 3,072 trunk features.
    for key, shape in REFERENCE_KEYS.items():
        if key.startswith(checkpoints.ENFORMER_TRUNK):
            assert full[key] == shape, key
    assert full["module/_heads/human/_layers/0/w"] == [3072, N_TRACKS]
    reference_heads = sum(3072 * n + n for n in REFERENCE_HEADS.values())
    trainable = sum(int(np.prod(shape)) for key, shape in full.items()
                    if "/moving_mean/" not in key and "/moving_variance/" not in key)
    assert trainable == REFERENCE_TRAINABLE_PARAMETERS - reference_heads + 3072 * N_TRACKS + N_TRACKS


# ---------------------------------------------------------------------------------------------
# Transfer: a fresh payload head on a loud (pretrained) trunk starts with a gradient
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_payload_head_scaled_to_a_loud_trunk_starts_unsaturated():
    import tensorflow as tf

    from trainer.enformer import build_enformer
    from trainer.heads import PayloadModel

    tf.random.set_seed(3)
    model = PayloadModel(build_enformer("tiny"), 16, 16, 1, pooling="mean", input_length=WINDOW)
    bins, width = WINDOW // 128, model.enformer.embedding_size
    # A random trunk's embedding is quiet (RMS ~0.3); one pretrained on tracks is loud (demo: RMS 7.7).
    quiet = tf.random.stateless_normal([4, bins, width], seed=[0, 1]) * 0.3
    loud = tf.nn.gelu(tf.random.stateless_normal([4, bins, width], seed=[0, 2]) * 20.0)

    def preactivations(embedding: tf.Tensor) -> np.ndarray:
        """``[4]`` inputs of the head's softplus."""
        pooled = model.pooled_features(embedding)
        return np.asarray(tf.matmul(pooled, model.dense.kernel) + model.dense.bias).ravel()

    default_head = [v.numpy().copy() for v in model.head_variables]
    assert model.scale_head_to_embedding(quiet)["embedding_rms"] < 1.0  # kept as initialised
    assert all(np.array_equal(before, v.numpy()) for before, v in zip(default_head, model.head_variables))

    saturated = preactivations(loud)
    assert np.abs(saturated).max() > 8.0  # the default head: softplus flat or wild on these inputs
    assert model.scale_head_to_embedding(loud)["embedding_rms"] > 5.0
    scaled = preactivations(loud)
    assert np.abs(scaled).max() < 3.0
    # Every output of the scaled head still passes a gradient (softplus' slope is the sigmoid).
    assert (1.0 / (1.0 + np.exp(-scaled))).min() > 0.05


def test_transfer_benchmark_pairs_runs_by_seed(tmp_path):
    """The transfer table: per fraction, mean / SD / range over the seeds run from both starts, the
    paired gain and the mean first-epoch r (an unpaired run and a fraction with one start are left
    out); the resume file
    gives back only the runs made with the same settings and their start's learning rate."""
    from benchmarks.bench_transfer import LEARNING_RATES, _load_cells, _summary

    def run(fraction, start, seed, r):
        return {"fraction": fraction, "start": start, "seed": seed, "heldout_pearson_r": r,
                "heldout_r_by_epoch": [r - 0.1 * (start == "random"), r]}

    table = [run(0.25, "random", 0, 0.2), run(0.25, "pretrained", 0, 0.7), run(0.25, "random", 1, 0.6),
             run(0.25, "pretrained", 1, 0.5), run(0.25, "random", 2, 0.9), run(1.0, "random", 0, 0.8)]
    assert _summary(table) == [{
        "fraction": 0.25, "seeds": [0, 1],
        "random_mean": 0.4, "random_sd": 0.283, "random_range": [0.2, 0.6],
        "pretrained_mean": 0.6, "pretrained_sd": 0.141, "pretrained_range": [0.5, 0.7],
        "gain_mean": 0.2, "gain_sd": 0.424, "gains": [0.5, -0.1], "pretrained_ahead": 1,
        "first_epoch_random_mean": 0.3, "first_epoch_pretrained_mean": 0.6}]
    assert _summary(table[:2])[0]["random_sd"] is None  # one seed: no spread

    cells = tmp_path / "transfer_cells.jsonl"
    rate = LEARNING_RATES["random"]
    written = ((table[0], rate, {"steps": 60}), (table[1], LEARNING_RATES["pretrained"], {"steps": 40}),
               (table[2], rate * 2, {"steps": 60}))
    cells.write_text("".join(json.dumps({**row, "learning_rate": lr, "settings": settings}) + "\n"
                             for row, lr, settings in written))
    loaded = _load_cells(str(cells), {"steps": 60})  # not: other settings, another learning rate
    assert list(loaded) == [(0.25, "random", 0)] and loaded[(0.25, "random", 0)]["heldout_pearson_r"] == 0.2
    assert _load_cells(str(tmp_path / "missing.jsonl"), {"steps": 60}) == {}
