"""k-fold datasets: make-dataset --kfolds assigns stable folds; train --kfold picks the splits."""
from __future__ import annotations

import glob
import os

import pytest

from components.errors import InputError
from tests.test_payload_example_gen import CONTEXT, LENGTH, WINDOW, fixture_inputs


def _run(argv):
    from pipeline.cli import main

    return main(argv)


def _folds(table):
    with open(table) as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return {row[1]: row[3] for row in rows[1:]}


def _kfold_dataset(root, k: int) -> dict:
    inputs = fixture_inputs(str(root / "in"))
    table = str(root / "out" / "dataset.tsv")
    argv = ["make-dataset", inputs.table, inputs.fasta, "--annotation", inputs.bed, "--reference", inputs.reference,
            "--context", CONTEXT, "--seed", "4200", "--kfolds", str(k), "--length", str(LENGTH), "--window", str(WINDOW),
            "--output", table]
    assert _run(argv) == 0
    return {"root": root, "inputs": inputs, "table": table, "argv": argv, "examples": str(root / "out" / "dataset.examples")}


@pytest.fixture(scope="module")
def kfold_dataset(tmp_path_factory):
    """The fixture payloads in 3 folds (a middle fold shows that training skips only its own)."""
    return _kfold_dataset(tmp_path_factory.mktemp("kfold"), 3)


@pytest.fixture(scope="module")
def two_fold_dataset(tmp_path_factory):
    """The same payloads in 2 folds: cross-validation trains one model per fold, so fewer is quicker."""
    return _kfold_dataset(tmp_path_factory.mktemp("kfold2"), 2)


def test_every_payload_has_one_fold_and_keeps_it(kfold_dataset, tmp_path):
    import tensorflow as tf

    from components.records import read_split

    folds = _folds(kfold_dataset["table"])
    assert len(folds) == 14 and set(folds.values()) == {"fold0", "fold1", "fold2"}  # NAONLY has no activity
    names = {}
    for fold in ("fold0", "fold1", "fold2"):
        for record in read_split(kfold_dataset["examples"], fold):
            name = tf.train.Example.FromString(record).features.feature["name"].bytes_list.value[0].decode()
            assert name not in names  # exactly one fold per payload
            names[name] = fold
    assert names == folds
    # A smaller library (payloads dropped, as if the others were added later): nobody moves.
    inputs = kfold_dataset["inputs"]
    with open(inputs.table) as handle:
        lines = handle.readlines()
    subset = tmp_path / "subset.tsv"
    subset.write_text("".join(line for line in lines if not line.startswith(("Q1\t", "Q4\t", "Q7\t"))))
    argv = list(kfold_dataset["argv"])
    argv[1] = str(subset)
    argv[argv.index("--output") + 1] = str(tmp_path / "subset" / "dataset.tsv")
    assert _run(argv) == 0
    smaller = _folds(str(tmp_path / "subset" / "dataset.tsv"))
    assert set(smaller) == set(folds) - {"Q1", "Q4", "Q7"}
    assert all(smaller[name] == folds[name] for name in smaller)


def test_train_fold_patterns(kfold_dataset):
    from pipeline.commands.train import fold_patterns

    examples = kfold_dataset["examples"]
    train, evaluation = fold_patterns(examples, 1, 3)
    assert [os.path.basename(os.path.dirname(p)) for p in train] == ["Split-fold0", "Split-fold2"]
    assert [os.path.basename(os.path.dirname(p)) for p in evaluation] == ["Split-fold1"]
    assert all(glob.glob(pattern) for pattern in train + evaluation)
    with pytest.raises(InputError, match=r"has 3 fold split\(s\) .* not the 4 of --num-kfolds"):
        fold_patterns(examples, 0, 4)
    with pytest.raises(InputError, match="need K >= 2 and 0 <= I < K"):
        fold_patterns(examples, 3, 3)
    with pytest.raises(InputError, match="--kfold and --num-kfolds go together"):
        fold_patterns(examples, 0, None)
    with pytest.raises(InputError, match="no Split-train/ directory"):
        fold_patterns(examples, None, None)


def test_kfold_errors(kfold_dataset, capsys):
    argv = list(kfold_dataset["argv"])
    argv[argv.index("--output") + 1] = str(kfold_dataset["root"] / "bad" / "dataset.tsv")
    assert _run(argv[:argv.index("--kfolds")] + ["--kfolds", "1"] + argv[argv.index("--kfolds") + 2:]) == 2
    assert "--kfolds must be >= 2" in capsys.readouterr().err
    assert _run(argv + ["--folds", "train=1", "eval=1"]) == 2
    assert "give --folds or --kfolds, not both" in capsys.readouterr().err
    assert _run(argv + ["--split-mode", "offsets"]) == 2
    assert "--kfolds holds out whole payloads" in capsys.readouterr().err
    assert not os.path.exists(kfold_dataset["root"] / "bad")
    assert _run(["train", str(kfold_dataset["root"] / "m"), kfold_dataset["examples"], "--kfold", "0",
                 "--num-kfolds", "5", "--baseline", "random"]) == 2
    assert "not the 5 of --num-kfolds" in capsys.readouterr().err


CV_WINDOW = 1280  # the tiny model's usual window (10 bins): centred in the fixture's 2,560 bp constructs


@pytest.mark.slow
def test_cross_validate_predicts_every_payload_once_out_of_fold(two_fold_dataset, capsys):
    import csv
    import json

    import numpy as np

    from components.correlation import pearson_r
    from trainer.predict import payloads
    from trainer.predict.predictor import load_predictor, predict_codes

    dataset, k = two_fold_dataset, 2
    outdir = dataset["root"] / "cv"
    argv = ["cross-validate", str(outdir), dataset["table"], "--num-kfolds", str(k), "--baseline", "random",
            "--preset", "tiny", "--pooling", "mean", "--length", str(CV_WINDOW), "--epochs", "1", "--steps", "2",
            "--batch", "2", "--eval-offsets", "1", "--learning-rate", "0.001"]
    assert _run(argv) == 0
    assert "out of fold (14 payloads" in capsys.readouterr().out
    with open(outdir / "cv" / "predictions.tsv") as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    folds = _folds(dataset["table"])
    assert set(folds.values()) == {f"fold{i}" for i in range(k)}
    assert sorted(row["name"] for row in table) == sorted(folds)  # every payload exactly once
    assert all(row["group"] == folds[row["name"]] for row in table)  # predicted by its own fold's model
    summary = json.load(open(outdir / "cv" / "summary.json"))
    assert summary["n"] == 14 and [f["n"] for f in summary["folds"]] == [
        sum(1 for fold in folds.values() if fold == f"fold{i}") for i in range(k)]
    measured = np.array([float(row["activity"]) for row in table])
    predicted = np.array([float(row["predicted"]) for row in table])
    assert summary["pearson_r"] == pytest.approx(pearson_r(predicted, measured), abs=1e-4)
    # one out-of-fold value recomputed with the fold model it came from, on the centred window
    row = next(r for r in payloads.read_dataset_table(dataset["table"]) if r.fold == "fold1")
    model = outdir / "fold1" / "model" / "Format-Serving"
    predictor = load_predictor(str(model), {"activity": None}, CV_WINDOW)
    start = (row.codes.size - CV_WINDOW) // 2
    value = predict_codes(predictor, row.codes[None, start:start + CV_WINDOW])["activity"][0]
    assert float(next(r["predicted"] for r in table if r["name"] == row.name)) == pytest.approx(value, rel=1e-4)
