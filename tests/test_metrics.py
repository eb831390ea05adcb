"""Correlation metrics against SciPy, and the TFMA wrappers inside a real TFMA run."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from components.correlation import CorrelationSums, mean_track_pearson, pearson_r, spearman_rho

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


def weighted_reference_r(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted Pearson r written out from NumPy's weighted covariance."""
    cov = np.cov(x, y, aweights=w)
    return cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])


def test_weighted_pearson_matches_reference_and_repeated_rows():
    rng = np.random.default_rng(11)
    x = rng.normal(size=50)
    y = 0.7 * x + rng.normal(size=50) + 1e6  # a large offset must not cancel
    w = rng.integers(0, 4, size=50).astype(float)
    assert pearson_r(x, y, w) == pytest.approx(weighted_reference_r(x, y, w), abs=1e-9)
    # Integer weights = rows repeated that many times (weight 0 drops the row).
    repeated = np.repeat(np.arange(50), w.astype(int))
    assert pearson_r(x, y, w) == pytest.approx(stats.pearsonr(x[repeated], y[repeated])[0], abs=1e-9)
    assert pearson_r(x, y, w) != pytest.approx(pearson_r(x, y), abs=1e-3)  # the weights matter
    assert math.isnan(pearson_r(x, y, np.zeros(50)))


def test_sums_merged_over_any_split_equal_one_pass():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    w = rng.uniform(0.1, 2.0, size=40)
    one_pass = CorrelationSums.of(x, y, w)
    parts = [CorrelationSums.of(x[a:b], y[a:b], w[a:b]) for a, b in ((0, 1), (1, 17), (17, 17), (17, 40))]
    merged = CorrelationSums()
    for part in reversed(parts):
        merged = merged.merge(part)
    np.testing.assert_allclose(merged.pearson(), one_pass.pearson(), atol=1e-12)
    expected = [weighted_reference_r(x[:, j], y[:, j], w) for j in range(3)]
    np.testing.assert_allclose(one_pass.pearson(), expected, atol=1e-12)


def _metric_inputs(labels, predictions, weights):
    from tensorflow_model_analysis.metrics import metric_types

    return [metric_types.StandardMetricInputs(labels=l, predictions=p, example_weights=np.array([w]))
            for l, p, w in zip(labels, predictions, weights)]


@pytest.mark.parametrize("metric_name", ["PearsonCorrelation", "MeanTrackPearson", "SpearmanCorrelation"])
def test_tfma_combiners_weighted_and_mergeable(metric_name):
    """The TFMA combiners honour example weights and merge split inputs to the one-pass value."""
    import tensorflow_model_analysis as tfma

    from trainer import metrics

    rng = np.random.default_rng(13)
    shape = (30, 5, 2) if metric_name == "MeanTrackPearson" else (30,)
    labels = rng.gamma(2.0, size=shape)
    predictions = labels + rng.normal(scale=1.5, size=shape)
    weights = rng.integers(0, 4, size=30).astype(float)
    metric = getattr(metrics, metric_name)()
    (computation,) = metric.computations(eval_config=tfma.EvalConfig(), example_weighted=True)
    combiner = computation.combiner
    elements = _metric_inputs(labels, predictions, weights)

    def accumulate(chunk):
        accumulator = combiner.create_accumulator()
        for element in chunk:
            accumulator = combiner.add_input(accumulator, element)
        return accumulator

    (one_pass,) = combiner.extract_output(accumulate(elements)).values()
    merged = combiner.merge_accumulators([accumulate(elements[:7]), accumulate(elements[7:8]), accumulate(elements[8:])])
    (split,) = combiner.extract_output(merged).values()
    assert split == pytest.approx(one_pass, abs=1e-12)
    repeated = np.repeat(np.arange(30), weights.astype(int))
    if metric_name == "PearsonCorrelation":
        expected = weighted_reference_r(labels, predictions, weights)
    elif metric_name == "MeanTrackPearson":
        per_bin = np.repeat(weights, 5)
        expected = np.mean([weighted_reference_r(labels[..., t].ravel(), predictions[..., t].ravel(), per_bin)
                            for t in range(2)])
    else:  # weighted Pearson of the average ranks of all values
        ranks_l, ranks_p = stats.rankdata(labels), stats.rankdata(predictions)
        expected = weighted_reference_r(ranks_l, ranks_p, weights)
    assert one_pass == pytest.approx(expected, abs=1e-9)
    if metric_name == "PearsonCorrelation":
        assert one_pass == pytest.approx(stats.pearsonr(labels[repeated], predictions[repeated])[0], abs=1e-9)


def test_mean_track_pearson_is_mean_of_per_track_r():
    rng = np.random.default_rng(3)
    labels = rng.gamma(2.0, size=(6, 8, 3))
    predictions = labels + rng.normal(scale=[0.1, 1.0, 3.0], size=(6, 8, 3))
    expected = np.mean([stats.pearsonr(labels[..., t].ravel(), predictions[..., t].ravel())[0] for t in range(3)])
    assert mean_track_pearson(labels, predictions) == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
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
