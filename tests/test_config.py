"""Config validation: one error line naming the dotted key, exit 2, before any heavy import.

Each CLI case runs in a fresh interpreter (so ``sys.modules`` shows exactly what the command
imported) and asserts that TensorFlow, TFX and Beam were never loaded. Wall time is measured
in ``benchmarks/bench_config.py``, not asserted here.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import yaml

from components.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "pipeline", "configs", "demo.yaml")
HEAVY_MODULES = ("tensorflow", "tfx", "apache_beam", "tensorflow_model_analysis")

# Runs the CLI in-process of a fresh interpreter, then reports the exit code and heavy imports.
_PROBE = """
import json, sys
from pipeline.cli import main
status = main(sys.argv[1:])
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("PROBE " + json.dumps({{"status": status, "heavy": heavy}}))
"""


def run_cli(*argv: str, cwd: str = REPO) -> tuple:
    """``(exit status, heavy modules imported, stderr lines)`` of ``enformer-tfx ARGV``."""
    env = dict(os.environ, PYTHONPATH=REPO)
    completed = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY_MODULES), *argv],
                               capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    probe = [line for line in completed.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, completed.stderr
    result = json.loads(probe[-1][len("PROBE "):])
    return result["status"], result["heavy"], [line for line in completed.stderr.splitlines() if line.strip()]


def demo_with(tmp_path, change) -> str:
    with open(DEMO_CONFIG) as handle:
        config = yaml.safe_load(handle)
    change(config)
    path = str(tmp_path / "demo.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    return path


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c["training"].update(epohcs=3), "error: demo.yaml: training.epohcs: unknown key; expected one of: mode,"),
        (lambda c: c["training"].update(epochs=0), "error: demo.yaml: training.epochs: must be >= 1, got 0"),
        (lambda c: c["training"].update(epochs="ten"), "error: demo.yaml: training.epochs: expected an integer, got 'ten'"),
        (lambda c: c["model"].update(pooling="max"), "error: demo.yaml: model.pooling: expected one of 'flatten' or 'mean', got 'max'"),
        (lambda c: c["payloads"].update(folds="train"), "error: demo.yaml: payloads.folds: expected NAME=WEIGHT"),
        (lambda c: c["payloads"].update(records_per_shard=[1]), "error: demo.yaml: payloads.records_per_shard: expected an integer"),
        (lambda c: c.update(vertex={"project": "p", "trainer": {"accelerator_count": 1}}),
         "error: demo.yaml: vertex.trainer.accelerator_type: required when accelerator_count is set"),
    ],
)
@pytest.mark.slow
def test_invalid_config_is_one_line_exit_2_without_heavy_imports(tmp_path, change, expected):
    status, heavy, stderr = run_cli("run", "--config", demo_with(tmp_path, change))
    assert status == 2
    assert heavy == [], f"validation imported {heavy}"
    assert len(stderr) == 1 and stderr[0].startswith(expected), stderr


@pytest.mark.slow
def test_compile_and_set_overrides_validate_before_importing_tfx(tmp_path):
    status, heavy, stderr = run_cli("compile", "--config", DEMO_CONFIG, "--image", "img", "--output",
                                    str(tmp_path / "p.json"), "--set", "vertex.trainer.gpus=1")
    assert (status, heavy) == (2, [])
    assert stderr == ["error: demo.yaml: vertex.project: required key is missing; vertex.trainer.gpus: unknown key; "
                      "expected one of: machine_type, accelerator_type, accelerator_count, replica_count, image, boot_disk_size_gb"]
    assert not os.path.exists(tmp_path / "p.json")


@pytest.mark.slow
def test_train_flags_are_validated_before_tensorflow(tmp_path):
    for split in ("train", "eval"):
        os.makedirs(tmp_path / "data" / f"Split-{split}")
    status, heavy, stderr = run_cli("train", str(tmp_path / "model"), str(tmp_path / "data"), "--baseline", "random",
                                    "--length", "1000")
    assert (status, heavy) == (2, [])
    assert stderr == ["error: window_length: must be a multiple of 128 bp, got 1000"]


def test_loading_a_valid_config_imports_no_heavy_module():
    code = (f"import sys; from pipeline.config import load_config; c = load_config({DEMO_CONFIG!r}); "
            f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]; assert not heavy, heavy; "
            "print(c.training.epochs)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env=dict(os.environ, PYTHONPATH=REPO), timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "6"


def test_demo_stages_fit_together():
    """``make demo``: stage 2 (demo.yaml) and the held-out-track head (demo_tracks.yaml) load
    stage 1's pushed trunk (demo_pretrain.yaml) with its heads; stage 1 reruns from the cache;
    DEMO03 is held out of pretraining; demo_random.yaml differs from demo.yaml only in the start."""
    from pipeline.config import load_config

    def config(name):
        return load_config(os.path.join(REPO, "pipeline", "configs", name))

    pretrain, demo, tracks, random_start = (config(name) for name in (
        "demo_pretrain.yaml", "demo.yaml", "demo_tracks.yaml", "demo_random.yaml"))
    assert demo.model.baseline == tracks.model.baseline == pretrain.push.destination
    assert demo.model.overrides == tracks.model.overrides == pretrain.model.overrides == {"heads": {"human": 3}}
    assert demo.model.preset == tracks.model.preset == pretrain.model.preset
    assert (pretrain.training.warm_start, pretrain.evaluation.max_pearson_r_drop) == (False, None)
    assert os.path.basename(pretrain.tracks.tracks) == "tracks_pretrain.tsv"
    assert os.path.basename(tracks.tracks.tracks) == "tracks_heldout.tsv"
    assert dataclasses.replace(tracks.tracks, tracks=pretrain.tracks.tracks) == pretrain.tracks
    assert tracks.evaluation.min_pearson_r == 0.5
    assert random_start.payloads == demo.payloads and random_start.evaluation == demo.evaluation
    assert random_start.model == dataclasses.replace(demo.model, baseline="random", overrides={})
    assert len({c.pipeline_root for c in (pretrain, demo, tracks, random_start)}) == 4
    assert len({c.push.destination for c in (pretrain, demo, tracks, random_start)}) == 4


def test_cli_forms_are_accepted_in_the_config(tmp_path):
    """``eval_chroms: chr19,chrX`` and ``folds: train=8 eval=2`` as on the command line."""
    from pipeline.config import load_config

    tracks = {"reference": "ref.fa", "mappable_bed": "m.bed", "tracks": "t.tsv", "eval_chroms": "chr19, chrX"}
    config = load_config(demo_with(tmp_path, lambda c: c.update(tracks=tracks)),
                         ["training.mode=tracks", "payloads.folds=train=8 eval=2"])
    assert config.tracks.eval_chroms == ("chr19", "chrX")
    assert config.payloads.folds == {"train": 8, "eval": 2}
    assert config.data_arguments()["eval_chroms"] == ("chr19", "chrX")
    as_list = load_config(demo_with(tmp_path, lambda c: c.update(tracks={**tracks, "eval_chroms": ["chr19", "chrX"]})),
                          ["training.mode=tracks", "payloads.folds=[train=8, eval=2]"])
    assert as_list.tracks == config.tracks and as_list.payloads == config.payloads
    with pytest.raises(InputError, match=r"demo.yaml: tracks.eval_chroms: expected a list, got 19"):
        load_config(demo_with(tmp_path, lambda c: c.update(tracks={**tracks, "eval_chroms": 19})), ["training.mode=tracks"])


def test_cli_defaults_are_the_config_defaults():
    """``train`` and ``make-dataset``/``make-track-dataset`` flags default to the config sections' defaults."""
    from components.bigwig_track_gen.params import TrackDatasetConfig
    from components.payload_example_gen.params import PayloadParams
    from pipeline.cli import build_parser
    from trainer.settings import ModelConfig, TrainingConfig

    parser = build_parser()
    train = parser.parse_args(["train", "m", "d"])
    model, training = ModelConfig(), TrainingConfig()
    assert (train.preset, train.key_size, train.value_size, train.num_heads, train.pooling, train.length) == (
        model.preset, model.key_size, model.value_size, model.num_heads, model.pooling, model.window_length)
    assert (train.learning_rate, train.lr_schedule, train.epochs, train.steps, train.batch, train.seed,
            train.eval_offsets) == (training.resolved_learning_rate, training.lr_schedule, training.epochs,
                                    training.steps, training.batch, training.seed, training.eval_offsets)
    payloads = PayloadParams(activity_table="a", payload_fasta="p", reference_fasta="r", context="c")
    dataset = parser.parse_args(["make-dataset", "a", "p", "--reference", "r", "--context", "c"])
    assert (dataset.seed, dataset.length, dataset.window, dataset.split_mode,
            dataset.records_per_shard) == (payloads.seed, payloads.construct_length, payloads.window_length,
                                           payloads.split_mode, payloads.records_per_shard)
    assert PayloadParams(activity_table="a", payload_fasta="p", reference_fasta="r", context="c",
                         folds=dataset.folds).folds == payloads.folds
    track_args = parser.parse_args(["make-track-dataset", "m.bed", "t.tsv", "--reference", "r", "--prefix", "p"])
    tracks = TrackDatasetConfig(reference="r", mappable_bed="m.bed", tracks="t.tsv")
    assert {name: getattr(track_args, name) for name in ("length", "width", "cutoff", "size", "batches", "seed", "step")} \
        == {name: getattr(tracks, name) for name in ("length", "width", "cutoff", "size", "batches", "seed", "step")}


def test_config_schema_command_writes_a_json_schema(tmp_path):
    from pipeline.cli import main

    path = tmp_path / "schema" / "config.schema.json"
    assert main(["config-schema", "--output", str(path)]) == 0
    schema = json.loads(path.read_text())
    assert set(schema["required"]) == {"pipeline_name", "pipeline_root"}
    assert "source" not in schema["properties"]
    training = schema["$defs"]["TrainingConfig"]
    assert training["additionalProperties"] is False
    assert training["properties"]["epochs"] == {"default": 10, "minimum": 1, "title": "Epochs", "type": "integer"}
    assert training["properties"]["mode"]["enum"] == ["finetune", "tracks"]
