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


@pytest.fixture(scope="module")
def kfold_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("kfold")
    inputs = fixture_inputs(str(root / "in"))
    table = str(root / "out" / "dataset.tsv")
    argv = ["make-dataset", inputs.table, inputs.fasta, "--annotation", inputs.bed, "--reference", inputs.reference,
            "--context", CONTEXT, "--seed", "4200", "--kfolds", "3", "--length", str(LENGTH), "--window", str(WINDOW),
            "--output", table]
    assert _run(argv) == 0
    return {"root": root, "inputs": inputs, "table": table, "argv": argv, "examples": str(root / "out" / "dataset.examples")}


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
