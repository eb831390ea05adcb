"""The Evaluator's blessing rule, checked through TFMA's own threshold validation.

``make_eval_config`` turns ``evaluation`` (floor, allowed drop) into TFMA thresholds; the table
below states, by hand, which (baseline r, candidate r, floor, allowed drop) must be blessed, and
TFMA's validator (the code the Evaluator runs on computed metrics) decides from the config.
"""
from __future__ import annotations

import os
from typing import Optional

import pytest

from pipeline.config import load_config
from tests.test_pipeline import pipeline_config, write_config

# baseline r, candidate r, floor, allowed drop -> blessed
BLESSING_TABLE = [
    (0.50, 0.45, 0.30, 0.10, True),  # inside the allowed drop
    (0.50, 0.40, 0.30, 0.10, True),  # exactly the allowed drop
    (0.40, 0.30, 0.20, 0.10, True),  # exactly the allowed drop, 0.3 - 0.4 < -0.1 in floating point
    (0.50, 0.39, 0.30, 0.10, False),  # 0.01 beyond it
    (0.50, 0.35, 0.30, 0.10, False),
    (0.50, 0.50, 0.30, 0.00, True),  # no drop allowed: an equal model is kept
    (0.50, 0.49, 0.30, 0.00, False),
    (0.50, 0.60, 0.30, 0.00, True),  # better
    (0.50, 0.25, 0.20, 0.30, True),
    (0.50, 0.25, 0.30, 0.30, False),  # inside the drop but under the floor
    (-0.20, -0.10, -1.00, 0.00, True),  # negative r: better is still higher
    (0.90, 0.10, -1.00, None, True),  # no change threshold: only the floor
    (0.90, 0.29, 0.30, None, False),
]


def eval_config_for(tmp_path, mode: str, floor: float, drop, has_baseline: bool = True):
    """TFMA EvalConfig of a validated pipeline config, as the Evaluator sees it with a baseline."""
    import tensorflow_model_analysis as tfma

    from pipeline.pipeline import make_eval_config

    config = pipeline_config(str(tmp_path), str(tmp_path / "data"), "chr1:1-2000", mode=mode)
    if mode == "tracks":
        del config["payloads"]
        config["tracks"] = {"reference": "ref.fa", "mappable_bed": "map.bed", "tracks": "tracks.tsv", "length": 1280,
                            "size": 8, "seed": 2, "eval_chroms": ["chrX"]}
    config["evaluation"] = {"min_pearson_r": floor, "max_pearson_r_drop": drop}
    loaded = load_config(write_config(os.path.join(str(tmp_path), f"{mode}.yaml"), config))
    # As the TFX Evaluator does: change thresholds apply only when a baseline model exists.
    return tfma.utils.update_eval_config_with_defaults(make_eval_config(loaded), has_baseline=has_baseline,
                                                       rubber_stamp=True)


def validate(eval_config, name: str, baseline: Optional[float], candidate: float) -> bool:
    """TFMA's verdict on the overall slice given computed candidate/baseline/diff metric values."""
    from tensorflow_model_analysis.evaluators import metrics_validator
    from tensorflow_model_analysis.metrics import metric_types

    def key(model: str, is_diff: bool = False):
        return metric_types.MetricKey(name=name, model_name=model, is_diff=is_diff, example_weighted=False)

    if baseline is None:  # first run: one unnamed model
        metrics = {key(""): candidate}
    else:
        metrics = {key("candidate"): candidate, key("baseline"): baseline, key("candidate", True): candidate - baseline}
    return metrics_validator.validate_metrics(((), metrics), eval_config).validation_ok


@pytest.mark.slow
@pytest.mark.parametrize("mode,metric", [("finetune", "pearson_r"), ("tracks", "mean_track_pearson_r")])
def test_blessing_rule_table(tmp_path, mode, metric):
    verdicts = {}
    for baseline, candidate, floor, drop, _ in BLESSING_TABLE:
        eval_config = eval_config_for(tmp_path, mode, floor, drop)
        verdicts[(baseline, candidate, floor, drop)] = validate(eval_config, metric, baseline, candidate)
    assert verdicts == {row[:4]: row[4] for row in BLESSING_TABLE}


@pytest.mark.slow
@pytest.mark.parametrize("candidate,floor,blessed", [(0.31, 0.3, True), (0.3, 0.3, True), (0.29, 0.3, False),
                                                     (-0.99, -1.0, True)])
def test_first_model_needs_only_the_floor(tmp_path, candidate, floor, blessed):
    eval_config = eval_config_for(tmp_path, "finetune", floor, 0.0, has_baseline=False)
    assert validate(eval_config, "pearson_r", None, candidate) is blessed


def test_threshold_protos():
    from tensorflow_model_analysis.proto import config_pb2

    from pipeline.pipeline import _threshold

    both = _threshold(0.3, 0.1)
    assert both.value_threshold.lower_bound.value == pytest.approx(0.3)
    assert not both.value_threshold.HasField("upper_bound")
    assert both.change_threshold.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER
    assert both.change_threshold.absolute.value == pytest.approx(-0.1, abs=1e-8)
    assert not both.change_threshold.HasField("relative")
    assert not _threshold(0.3, None).HasField("change_threshold")
    assert not _threshold(None, 0.0).HasField("value_threshold")
