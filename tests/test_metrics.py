"""Correlation metrics against SciPy, and the TFMA wrappers inside a real TFMA run."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from components.correlation import average_ranks, mean_track_pearson, pearson_r, spearman_rho

CASES = {
    "random": (np.random.default_rng(0).normal(size=40), np.random.default_rng(1).normal(size=40)),
    "ties": (np.array([1, 2, 2, 3, 3, 3, 4, 5.0]), np.array([2, 1, 4, 3, 3, 5, 6, 6.0])),
    "negative": (np.arange(10.0), -np.arange(10.0) ** 2),
    "two_points": (np.array([1.0, 2.0]), np.array([3.0, 1.0])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pearson_and_spearman_match_scipy(case):
    x, y = CASES[case]
    assert pearson_r(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)


def test_negative_correlation_keeps_its_sign():
    assert pearson_r(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)
    assert spearman_rho(np.arange(5.0), np.exp(-np.arange(5.0))) == pytest.approx(-1.0)


def test_undefined_correlations_are_nan():
    assert math.isnan(pearson_r(np.arange(5.0), np.full(5, 2.0)))  # constant predictions
    assert math.isnan(spearman_rho(np.arange(5.0), np.full(5, 2.0)))
    assert math.isnan(pearson_r(np.array([1.0]), np.array([2.0])))
    with pytest.raises(ValueError):
        pearson_r(np.arange(3.0), np.arange(4.0))


def test_average_ranks_match_scipy_rankdata():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(average_ranks(values), stats.rankdata(values))


def test_mean_track_pearson_is_mean_of_per_track_r():
    rng = np.random.default_rng(3)
    labels = rng.gamma(2.0, size=(6, 8, 3))
    predictions = labels + rng.normal(scale=[0.1, 1.0, 3.0], size=(6, 8, 3))
    expected = np.mean([stats.pearsonr(labels[..., t].ravel(), predictions[..., t].ravel())[0] for t in range(3)])
    assert mean_track_pearson(labels, predictions) == pytest.approx(expected, abs=1e-12)


def test_tfma_run_with_custom_metrics(tmp_path):
    """TFMA evaluates predictions stored in the examples with our metrics (no model needed)."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma

    rng = np.random.default_rng(5)
    labels = rng.normal(size=60)
    predictions = -0.5 * labels + rng.normal(scale=0.5, size=60)
    path = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for label, prediction in zip(labels, predictions):
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "activity": tf.train.Feature(float_list=tf.train.FloatList(value=[label])),
                        "predicted": tf.train.Feature(float_list=tf.train.FloatList(value=[prediction])),
                    }
                )
            )
            writer.write(example.SerializeToString())
    eval_config = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="activity", prediction_key="predicted")],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="PearsonCorrelation", module="trainer.metrics"),
                    tfma.MetricConfig(class_name="SpearmanCorrelation", module="trainer.metrics"),
                ]
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
    )
    result = tfma.run_model_analysis(eval_config=eval_config, data_location=path, output_path=str(tmp_path / "out"))
    metrics = result.slicing_metrics[0][1][""][""]
    assert metrics["pearson_r"]["doubleValue"] == pytest.approx(stats.pearsonr(labels, predictions)[0], abs=1e-6)
    assert metrics["spearman_rho"]["doubleValue"] == pytest.approx(stats.spearmanr(labels, predictions)[0], abs=1e-6)
    assert metrics["pearson_r"]["doubleValue"] < 0
