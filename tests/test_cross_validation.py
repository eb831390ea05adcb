"""The pipeline's k-fold cross-validation: config checks and the out-of-fold step end to end."""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from components.errors import InputError
from pipeline.config import load_config
from tests.test_pipeline import pipeline_config, write_config


@pytest.mark.parametrize("overrides, message", [
    (["evaluation.cross_validation=1"], "evaluation.cross_validation: must be 0 (off) or a number of folds K >= 2"),
    (["evaluation.cross_validation=-3"], "evaluation.cross_validation: must be >= 0"),
    (["evaluation.cross_validation=two"], "evaluation.cross_validation: expected an integer"),
    (["evaluation.cross_validation=3", "payloads.split_mode=offsets"],
     "evaluation.cross_validation: folds hold out whole payloads; it needs payloads.split_mode: payload"),
])
def test_cross_validation_config_errors_name_the_key(tmp_path, overrides, message):
    path = write_config(str(tmp_path / "cv.yaml"), pipeline_config(str(tmp_path), "/data", "chr1:1-100"))
    assert load_config(path).evaluation.cross_validation == 0  # off by default
    assert load_config(path, ["evaluation.cross_validation=4"]).evaluation.cross_validation == 4
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path, overrides)


def run_cross_validation_pipeline(tmp: str, demo_data: str, context: str):
    """The step's own nodes (k-fold ExampleGen, two fold Trainers, the report) as a local TFX run
    on a tiny model, 24 payloads, 2 folds (a background job of the suite, tests.background);
    returns the run's config."""
    from tfx import v1 as tfx

    from pipeline.pipeline import LOCAL, cross_validation_components
    from tests.test_pipeline import write_gc_assay

    write_gc_assay(os.path.join(tmp, "assays", "batch-1"), n_payloads=24, seed=3)
    raw = pipeline_config(tmp, demo_data, context, epochs=1, steps=1, batch=4)
    raw["evaluation"]["cross_validation"] = 2
    config = load_config(write_config(os.path.join(tmp, "cv.yaml"), raw))
    components = cross_validation_components(config, LOCAL, schema=None)
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="cv", pipeline_root=config.pipeline_root, components=components,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(config.metadata_path),
        beam_pipeline_args=list(config.beam_pipeline_args)))
    return config


def test_cross_validation_step_predicts_every_payload_once_out_of_fold(cross_validation_run):
    """:func:`run_cross_validation_pipeline`: every payload predicted once, by the model of the fold
    that held it out."""
    from components.correlation import pearson_r, spearman_rho
    from components.payload_example_gen.constructs import assign_split
    from components.payload_example_gen.params import kfold_folds
    from pipeline.history import format_rounds, open_store, properties, read_rounds

    config = cross_validation_run
    store = open_store(config.metadata_path)
    (report,) = store.get_artifacts_by_type("enformer_tfx.CrossValidationReport")
    with open(os.path.join(report.uri, "predictions.tsv")) as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    names = [row["name"] for row in table]
    assert sorted(names) == [f"gc{i:03d}" for i in range(24)]  # every payload, exactly once
    # ... each predicted by the model of its own (make-dataset --kfolds) fold
    assert all(row["group"] == assign_split(row["name"], config.payloads.seed, kfold_folds(2)) for row in table)
    measured = np.array([float(row["activity"]) for row in table])
    predicted = np.array([float(row["predicted"]) for row in table])
    summary = json.load(open(os.path.join(report.uri, "summary.json")))
    assert summary["n"] == 24 and summary["num_kfolds"] == 2
    assert summary["pearson_r"] == pytest.approx(np.corrcoef(predicted, measured)[0, 1], abs=1e-4)
    assert summary["spearman_rho"] == pytest.approx(spearman_rho(predicted, measured), abs=1e-4)
    fold_r = [pearson_r(predicted[[r["group"] == f"fold{i}" for r in table]],
                        measured[[r["group"] == f"fold{i}" for r in table]]) for i in range(2)]
    assert [f["pearson_r"] for f in summary["folds"]] == pytest.approx(fold_r, abs=1e-4)
    assert summary["fold_pearson_r_sd"] == pytest.approx(np.std(fold_r, ddof=1), abs=1e-4)
    assert os.path.getsize(os.path.join(report.uri, "scatter.png")) > 0
    recorded = properties(report)
    assert recorded["pearson_r"] == pytest.approx(summary["pearson_r"], abs=1e-5) and recorded["n"] == 24
    (round_,) = read_rounds(store, "cv")  # `enformer-tfx history` shows the out-of-fold r
    assert round_.cv_pearson_r == summary["pearson_r"]
    assert format_rounds([round_]).splitlines()[0].split()[4:6] == ["r", "cv_r"]
