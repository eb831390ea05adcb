"""TFMA 0.47 custom metrics: signed Pearson r, Spearman rho and mean per-track Pearson r.

TFMA ships only ``SquaredPearsonCorrelation`` (r², sign lost) and no rank correlation, so the
Evaluator uses these (configured with ``MetricConfig(class_name=..., module='trainer.metrics')``):

- ``PearsonCorrelation``: signed Pearson r between label and prediction over all examples.
- ``SpearmanCorrelation``: Spearman rho = Pearson r of average ranks (ties share their mean rank).
- ``MeanTrackPearson``: for track models; label and prediction are ``[bins, tracks]`` per
  example; r per track over all bins of all examples, then the mean over tracks (Basenji).

Pearson r and the per-track r accumulate weighted running co-moments
(:class:`components.correlation.CorrelationSums`: constant memory, mergeable across Beam
workers), like TFMA's own correlation metrics; Spearman needs every value for the ranks and
keeps them. Example weights are honoured when the metric is example-weighted. NaN results
(constant predictions) fail TFMA value thresholds, so a constant predictor is never blessed.
"""
from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from components.correlation import CorrelationSums, mean_of_tracks, spearman_rho

PEARSON_NAME = "pearson_r"
SPEARMAN_NAME = "spearman_rho"
MEAN_TRACK_PEARSON_NAME = "mean_track_pearson_r"


class _Combiner(beam.CombineFn):
    """Reads (label, prediction, example weight) triples of one metric key (TFMA inputs)."""

    def __init__(self, key: metric_types.MetricKey, eval_config, keep_shape: bool = False):
        self._key = key
        self._eval_config = eval_config
        self._keep_shape = keep_shape

    def _triples(self, element) -> Iterator[Tuple[np.ndarray, np.ndarray, float]]:
        for label, prediction, weight in metric_util.to_label_prediction_example_weight(
            element,
            eval_config=self._eval_config,
            model_name=self._key.model_name,
            output_name=self._key.output_name,
            example_weighted=self._key.example_weighted,
            flatten=not self._keep_shape,
            squeeze=not self._keep_shape,
        ):
            yield (np.asarray(label, dtype=np.float64), np.asarray(prediction, dtype=np.float64),
                   float(np.asarray(weight).reshape(-1)[0]))


class _SumsCombiner(_Combiner):
    """Pearson r from running weighted co-moments: one column for scalar outputs, one per track
    for ``[bins, tracks]`` outputs (``keep_shape``; the result is the mean over tracks)."""

    def create_accumulator(self) -> CorrelationSums:
        return CorrelationSums()

    def add_input(self, accumulator: CorrelationSums, element) -> CorrelationSums:
        for label, prediction, weight in self._triples(element):
            columns = label.shape[-1] if self._keep_shape else 1
            rows = label.reshape(-1, columns), prediction.reshape(-1, columns)
            # Every bin of an example carries the example's weight.
            batch = CorrelationSums.of(*rows, np.full(rows[0].shape[0], weight))
            accumulator = accumulator.merge(batch)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[CorrelationSums]) -> CorrelationSums:
        result = CorrelationSums()
        for accumulator in accumulators:
            result = result.merge(accumulator)
        return result

    def extract_output(self, accumulator: CorrelationSums) -> Dict[metric_types.MetricKey, float]:
        return {self._key: mean_of_tracks(accumulator.pearson())}


class _ValuesAccumulator:
    """Every (label, prediction, weight): rank statistics need all values."""

    __slots__ = ["labels", "predictions", "weights"]

    def __init__(self) -> None:
        self.labels: List[np.ndarray] = []
        self.predictions: List[np.ndarray] = []
        self.weights: List[np.ndarray] = []


class _SpearmanCombiner(_Combiner):
    """Spearman rho of all labels and predictions (weighted Pearson r of their average ranks)."""

    def create_accumulator(self) -> _ValuesAccumulator:
        return _ValuesAccumulator()

    def add_input(self, accumulator: _ValuesAccumulator, element) -> _ValuesAccumulator:
        for label, prediction, weight in self._triples(element):
            accumulator.labels.append(np.ravel(label))
            accumulator.predictions.append(np.ravel(prediction))
            accumulator.weights.append(np.full(np.size(label), weight))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_ValuesAccumulator]) -> _ValuesAccumulator:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.labels.extend(accumulator.labels)
            result.predictions.extend(accumulator.predictions)
            result.weights.extend(accumulator.weights)
        return result

    def extract_output(self, accumulator: _ValuesAccumulator) -> Dict[metric_types.MetricKey, float]:
        if not accumulator.labels:
            return {self._key: float("nan")}
        return {self._key: spearman_rho(np.concatenate(accumulator.labels), np.concatenate(accumulator.predictions),
                                        np.concatenate(accumulator.weights))}


def _computations_factory(combiner_class, keep_shape: bool = False):
    """A TFMA ``create_computations_fn`` running ``combiner_class`` per model/output key."""

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
                keys=[key], preprocessors=None, combiner=combiner_class(key, eval_config, keep_shape)
            )
        ]

    return create_computations


class PearsonCorrelation(metric_types.Metric):
    """Signed Pearson r between labels and predictions (TFMA only ships r²)."""

    def __init__(self, name: str = PEARSON_NAME):
        super().__init__(metric_util.merge_per_key_computations(_computations_factory(_SumsCombiner)), name=name)


class SpearmanCorrelation(metric_types.Metric):
    """Spearman ρ between labels and predictions (average ranks for ties)."""

    def __init__(self, name: str = SPEARMAN_NAME):
        super().__init__(metric_util.merge_per_key_computations(_computations_factory(_SpearmanCombiner)), name=name)


class MeanTrackPearson(metric_types.Metric):
    """Mean over tracks of Pearson r over bins, for ``[bins, tracks]`` labels and predictions."""

    def __init__(self, name: str = MEAN_TRACK_PEARSON_NAME):
        super().__init__(
            metric_util.merge_per_key_computations(_computations_factory(_SumsCombiner, keep_shape=True)),
            name=name,
        )


metric_types.register_metric(PearsonCorrelation)
metric_types.register_metric(SpearmanCorrelation)
metric_types.register_metric(MeanTrackPearson)
