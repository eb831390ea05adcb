"""TFMA 0.47 custom metrics: signed Pearson r, Spearman rho and mean per-track Pearson r.

TFMA ships only ``SquaredPearsonCorrelation`` (r², sign lost) and no rank correlation, so the
Evaluator uses these (configured with ``MetricConfig(class_name=..., module='trainer.metrics')``):

- ``PearsonCorrelation``: signed Pearson r between label and prediction over all examples.
- ``SpearmanCorrelation``: Spearman rho = Pearson r of average ranks (ties share their mean rank).
- ``MeanTrackPearson``: for track models; label and prediction are ``[bins, tracks]`` per
  example; r per track over all bins of all examples, then the mean over tracks (Basenji).

The statistics themselves live in :mod:`components.correlation`. NaN results (constant predictions)
fail TFMA value thresholds, so a constant predictor is never blessed.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from components.correlation import mean_track_pearson, pearson_r, spearman_rho

PEARSON_NAME = "pearson_r"
SPEARMAN_NAME = "spearman_rho"
MEAN_TRACK_PEARSON_NAME = "mean_track_pearson_r"


class _PairsAccumulator:
    """Collected (label, prediction) values; payload evaluations hold hundreds to thousands."""

    __slots__ = ["labels", "predictions"]

    def __init__(self) -> None:
        self.labels: List[np.ndarray] = []
        self.predictions: List[np.ndarray] = []


class _CorrelationCombiner(beam.CombineFn):
    """Collects label/prediction pairs, then applies ``statistic(labels, predictions)``.

    ``keep_shape`` keeps each example's arrays whole (track models) instead of flattening.
    """

    def __init__(self, key: metric_types.MetricKey, eval_config, statistic, keep_shape: bool = False):
        self._key = key
        self._eval_config = eval_config
        self._statistic = statistic
        self._keep_shape = keep_shape

    def create_accumulator(self) -> _PairsAccumulator:
        return _PairsAccumulator()

    def add_input(self, accumulator: _PairsAccumulator, element) -> _PairsAccumulator:
        for label, prediction, _weight in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=self._key.model_name,
            output_name=self._key.output_name,
            flatten=not self._keep_shape,
            squeeze=not self._keep_shape,
        ):
            accumulator.labels.append(np.asarray(label, dtype=np.float64))
            accumulator.predictions.append(np.asarray(prediction, dtype=np.float64))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_PairsAccumulator]) -> _PairsAccumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.labels.extend(accumulator.labels)
            result.predictions.extend(accumulator.predictions)
        return result

    def extract_output(self, accumulator: _PairsAccumulator) -> Dict[metric_types.MetricKey, float]:
        if not accumulator.labels:
            return {self._key: float("nan")}
        if self._keep_shape:
            labels = np.stack(accumulator.labels)
            predictions = np.stack(accumulator.predictions)
        else:
            labels = np.concatenate([np.ravel(v) for v in accumulator.labels])
            predictions = np.concatenate([np.ravel(v) for v in accumulator.predictions])
        return {self._key: self._statistic(labels, predictions)}


def _computations_factory(statistic, keep_shape: bool = False):
    """A TFMA ``create_computations_fn`` applying ``statistic`` per model/output key."""

    def create_computations(
        name: str,
        eval_config=None,
        model_name: str = "",
        output_name: str = "",
        sub_key: Optional[metric_types.SubKey] = None,
        example_weighted: bool = False,
    ) -> metric_types.MetricComputations:
        key = metric_types.MetricKey(
            name=name, model_name=model_name, output_name=output_name, sub_key=sub_key, example_weighted=example_weighted
        )
        return [
            metric_types.MetricComputation(
                keys=[key], preprocessors=None, combiner=_CorrelationCombiner(key, eval_config, statistic, keep_shape)
            )
        ]

    return create_computations


class PearsonCorrelation(metric_types.Metric):
    """Signed Pearson r between labels and predictions (TFMA only ships r²)."""

    def __init__(self, name: str = PEARSON_NAME):
        super().__init__(metric_util.merge_per_key_computations(_computations_factory(pearson_r)), name=name)


class SpearmanCorrelation(metric_types.Metric):
    """Spearman ρ between labels and predictions (average ranks for ties)."""

    def __init__(self, name: str = SPEARMAN_NAME):
        super().__init__(metric_util.merge_per_key_computations(_computations_factory(spearman_rho)), name=name)


class MeanTrackPearson(metric_types.Metric):
    """Mean over tracks of Pearson r over bins, for ``[bins, tracks]`` labels and predictions."""

    def __init__(self, name: str = MEAN_TRACK_PEARSON_NAME):
        super().__init__(
            metric_util.merge_per_key_computations(_computations_factory(mean_track_pearson, keep_shape=True)),
            name=name,
        )


metric_types.register_metric(PearsonCorrelation)
metric_types.register_metric(SpearmanCorrelation)
metric_types.register_metric(MeanTrackPearson)
