"""PayloadExampleGen executor: resolve the inputs, plan (validate) the dataset, run the Beam stage.

Exec properties are those of TFX's ``FileBasedExampleGenSpec`` (``input_base``,
``input_config`` with one split whose pattern names the activity table(s), ``output_config``
whose ``split_config`` hash buckets are the fold weights, ``range_config``) plus the keys in
:mod:`.params` (payload FASTA, annotation BED, reference, context, lengths, seed, split mode).

The ExampleGen driver resolves ``{SPAN}``/``{VERSION}`` in the input pattern and records span,
version and input fingerprint on the artifact (that is what makes reruns on unchanged inputs
cache hits). When the executor runs without that driver (unit tests, ``Executor().Do``) it
resolves them itself with the same TFX function. The resolved span/version also fill
``{SPAN}``/``{VERSION}`` in the payload FASTA and annotation BED paths.

Why not ``BaseExampleGenExecutor.Do``: its ``WriteSplit`` reshuffles every record through a
GroupByKey (memory grows with the dataset on the DirectRunner) and shards by bundle, so file
contents change with the worker count. Here all input validation happens before any output
exists, files are deterministic per shard, and the split directories appear only when the
whole pipeline succeeded.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

import tensorflow as tf
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import records
from components.errors import InputError
from components.payload_example_gen import constructs, params, transform

logger = logging.getLogger(__name__)

PAYLOAD_COUNTS_PROPERTY = "payload_counts"


def _resolve_activity_paths(exec_properties: Dict[str, Any]) -> tuple:
    """``(activity table paths, span, version)`` from the ExampleGen exec properties."""
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    if len(input_config.splits) != 1:
        raise InputError(f"input_config: expected one split naming the activity table(s), got {len(input_config.splits)}")
    pattern = input_config.splits[0].pattern
    span = exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME)
    version = exec_properties.get(example_gen_utils.VERSION_PROPERTY_NAME)
    if params.has_placeholder(pattern):
        # Not resolved by the ExampleGen driver (direct executor call): resolve like it would.
        range_config = None
        if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
            range_config = range_config_pb2.RangeConfig()
            proto_utils.json_to_proto(exec_properties[standard_component_specs.RANGE_CONFIG_KEY], range_config)
        try:
            _, span, version = example_gen_utils.calculate_splits_fingerprint_span_and_version(
                input_base, input_config.splits, range_config)
        except ValueError as error:
            raise InputError(f"activity table {os.path.join(input_base, pattern)}: {error}") from error
        pattern = params.fill_span(pattern, span, version)
    paths = sorted(tf.io.gfile.glob(os.path.join(input_base, pattern)))
    if not paths:
        raise InputError(f"activity table: no file matches {os.path.join(input_base, pattern)}")
    return paths, span or 0, version


def plan_from_exec_properties(exec_properties: Dict[str, Any]) -> constructs.DatasetPlan:
    """Validated :class:`constructs.DatasetPlan` from exec properties (raises InputError)."""
    paths, span, version = _resolve_activity_paths(exec_properties)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    folds = [(split.name, split.hash_buckets) for split in output_config.split_config.splits]
    if not folds:
        raise InputError("output_config: no splits configured (folds such as train=8 eval=2 are required)")
    annotation = exec_properties.get(params.ANNOTATION_BED_KEY) or None
    return constructs.plan_dataset(
        activity_tables=paths,
        payload_fasta=params.fill_span(exec_properties[params.PAYLOAD_FASTA_KEY], span, version),
        reference_fasta=exec_properties[params.REFERENCE_FASTA_KEY],
        context=exec_properties[params.CONTEXT_KEY],
        annotation_bed=params.fill_span(annotation, span, version) if annotation else None,
        construct_length=int(exec_properties.get(params.CONSTRUCT_LENGTH_KEY) or params.DEFAULT_CONSTRUCT_LENGTH),
        window_length=int(exec_properties.get(params.WINDOW_LENGTH_KEY) or params.DEFAULT_WINDOW_LENGTH),
        seed=int(exec_properties.get(params.SEED_KEY) or 0),
        folds=folds,
        split_mode=exec_properties.get(params.SPLIT_MODE_KEY) or "payload",
        records_per_shard=int(exec_properties.get(params.RECORDS_PER_SHARD_KEY) or params.DEFAULT_RECORDS_PER_SHARD),
    )


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes ``Examples`` with ``Split-<name>/data_tfrecord-*.gz`` of payload tf.Examples and ``dataset.tsv``."""

    def Do(
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        exec_properties = dict(exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])

        plan = plan_from_exec_properties(exec_properties)  # every input error is raised here
        # The make-dataset table rides along, so `enformer-tfx predict` can take the artifact itself.
        counts = transform.write_dataset(plan, examples.uri, self._make_beam_pipeline,
                                         table_path=os.path.join(examples.uri, records.DATASET_TABLE))

        examples.split_names = artifact_utils.encode_split_names(list(plan.split_names))
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
        examples.set_string_custom_property(PAYLOAD_COUNTS_PROPERTY, json.dumps(counts, sort_keys=True))
        logger.info("PayloadExampleGen wrote %s", counts)
