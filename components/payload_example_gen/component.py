"""PayloadExampleGen: the TFX shell around :mod:`.constructs` / :mod:`.transform`.

It *is* a ``FileBasedExampleGen`` (same spec keys plus ours, same driver), so TFX resolves
``{SPAN}``/``{VERSION}`` in the activity-table path, records span, version and input
fingerprint on the ``Examples`` artifact (unchanged inputs -> cache hit), and the Vertex
(KubeflowV2) runner installs its ExampleGen driver hook for it.

Example::

    PayloadExampleGen(
        activity_table="gs://bucket/assays/batch-{SPAN}/activity.tsv",
        payload_fasta="/data/assays/batch-{SPAN}/payloads.fa",
        annotation_bed="/data/Sox2_DistalLCR.bed",
        reference_fasta="/data/mm10.fa",
        context="chr3:34732778-34772706",
        folds={"train": 8, "eval": 2},
        seed=4200,
    )

Fingerprinting covers the activity table(s) only; the FASTA/BED paths are parameters. Put
changed payload files under a new span (or a new file name) so the cache sees the change.
"""
from __future__ import annotations

from typing import Mapping, Optional, Union

from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter

from components.payload_example_gen import executor, params


class PayloadExampleGenSpec(standard_component_specs.FileBasedExampleGenSpec):
    """FileBasedExampleGen parameters plus the payload construct parameters."""

    PARAMETERS = {
        **standard_component_specs.FileBasedExampleGenSpec.PARAMETERS,
        params.PAYLOAD_FASTA_KEY: ExecutionParameter(type=str),
        params.ANNOTATION_BED_KEY: ExecutionParameter(type=str, optional=True),
        params.REFERENCE_FASTA_KEY: ExecutionParameter(type=str),
        params.CONTEXT_KEY: ExecutionParameter(type=str),
        params.CONSTRUCT_LENGTH_KEY: ExecutionParameter(type=int),
        params.WINDOW_LENGTH_KEY: ExecutionParameter(type=int),
        params.SEED_KEY: ExecutionParameter(type=int),
        params.SPLIT_MODE_KEY: ExecutionParameter(type=str),
        params.RECORDS_PER_SHARD_KEY: ExecutionParameter(type=int),
    }


def make_input_config(pattern: str) -> example_gen_pb2.Input:
    """One input split named ``activity`` whose pattern is the activity table path/pattern."""
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="activity", pattern=pattern)])


def make_output_config(folds) -> example_gen_pb2.Output:
    """Fold weights as TFX hash buckets: ``{"train": 8, "eval": 2}`` -> train 8/10, eval 2/10."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=weight)
        for name, weight in params.normalize_folds(folds)
    ]))


class PayloadExampleGen(FileBasedExampleGen):
    """Splices payloads into a reference locus and emits one tf.Example per payload.

    Output ``examples``: ``Examples`` with ``Split-<fold>/data_tfrecord-*.gz``; the record
    fields are documented in :mod:`components.records` (the record contract).
    """

    SPEC_CLASS = PayloadExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        activity_table: str,
        payload_fasta: str,
        reference_fasta: str,
        context: str,
        annotation_bed: Optional[str] = None,
        construct_length: int = params.DEFAULT_CONSTRUCT_LENGTH,
        window_length: int = params.DEFAULT_WINDOW_LENGTH,
        seed: int = params.DEFAULT_SEED,
        folds: Optional[Mapping[str, Union[int, float]]] = None,
        split_mode: str = params.DEFAULT_SPLIT_MODE,
        records_per_shard: int = params.DEFAULT_RECORDS_PER_SHARD,
        range_config: Optional[range_config_pb2.RangeConfig] = None,
    ):
        """Args:
          activity_table: activity TSV path or pattern; may contain ``{SPAN}``/``{VERSION}``
            (TFX span syntax, ``{SPAN:2}`` for zero-padded names) and globs.
          payload_fasta: payload FASTA; ``{SPAN}``/``{VERSION}`` are filled with the
            resolved span/version. Must be readable by the Beam workers.
          reference_fasta: indexed (or indexable) reference FASTA, read in the executor only.
          context: ``chr:start-end`` (1-based inclusive) replaced by each payload.
          annotation_bed: optional BED ``payload start end site`` (payload coordinates).
          construct_length: construct size in bp (default 25,600 + 1,280).
          window_length: model window (the construct leaves room for shifts around it).
          seed: seeds split hashing.
          folds: split name -> weight (default train 8, eval 2).
          split_mode: ``payload`` (hold out whole payloads) or ``offsets`` (every payload in
            every split; leaky, reproduces the original protocol).
          records_per_shard: payloads per output file.
          range_config: optional TFX RangeConfig to pin a span instead of the latest.
        """
        input_base, pattern = params.split_input_path(activity_table)
        if split_mode not in params.SPLIT_MODES:
            raise ValueError(f"split_mode must be one of {params.SPLIT_MODES}, got {split_mode!r}")
        spec = PayloadExampleGenSpec(
            input_base=input_base,
            input_config=make_input_config(pattern),
            output_config=make_output_config(folds),
            custom_config=None,
            range_config=range_config,
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples),
            payload_fasta=payload_fasta,
            annotation_bed=annotation_bed or "",
            reference_fasta=reference_fasta,
            context=context,
            construct_length=construct_length,
            window_length=window_length,
            seed=seed,
            split_mode=split_mode,
            records_per_shard=records_per_shard,
        )
        # Skip FileBasedExampleGen.__init__ (it builds its own spec class); keep its driver.
        base_beam_component.BaseBeamComponent.__init__(self, spec=spec)
