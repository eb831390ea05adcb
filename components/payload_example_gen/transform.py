"""Beam stage: build the planned payload records and write them, deterministically and atomically.

Shape of the pipeline (runs unchanged on the DirectRunner and on Dataflow)::

    Create(shard ids) -> Reshuffle -> ParDo(_WriteShardFn)
                                         |- stream payload FASTA, keep this shard's payloads
                                         |- splice constructs, encode, serialize tf.Examples
                                         `- write Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz
                                            (+ table part) to a staging dir

A shard is a contiguous run of ``records_per_shard`` payloads in activity-table order, and
its file holds them in that order, so file names, contents and bytes depend only on the plan,
never on the number of workers or on bundling. Only shard ids cross a shuffle: sequences stay
inside one worker and memory is bounded by one shard, not by the dataset. Each worker re-reads
the payload FASTA (stopping once its shard is complete); the reference is not needed on the
workers, whose flanks come with the plan.

:func:`write_dataset` runs the pipeline into a staging directory and moves the files into
``<examples_dir>/Split-<name>/`` only after the whole pipeline succeeded; on any failure the
staging directory is removed and nothing is published.
"""
from __future__ import annotations

import collections
import logging
import os
import uuid
from typing import Callable, Dict, Iterator, Optional, Tuple

import apache_beam as beam

from components import genome, progress, records
from components.payload_example_gen import constructs
from components.payload_example_gen.constructs import DatasetPlan, PayloadPlan
from components.records import split_dir

logger = logging.getLogger(__name__)

# zlib level 4: uint8 codes of random-like DNA compress to within ~1% of level 6's size
# at ~1/10 of its CPU time (measured: 26,880 codes -> 8.3 KB in 0.6 ms vs 8.2 KB in 6 ms).
GZIP_LEVEL = 4


def iter_shard_constructs(plan: DatasetPlan, shard: int) -> Iterator[Tuple[PayloadPlan, str]]:
    """``(payload plan, construct)`` for shard ``shard``, in table order.

    Streams the payload FASTA and holds only this shard's payload sequences.
    """
    members = plan.shard(shard)
    wanted = {payload.fasta_key for payload in members}
    sequences: Dict[str, str] = {}
    for name, sequence, _ in genome.iter_fasta(plan.payload_fasta):
        key = constructs.fasta_key(name)
        if key in wanted and key not in sequences:  # first copy of identical duplicates
            sequences[key] = sequence
            if len(sequences) == len(wanted):
                break
    for payload in members:
        sequence = sequences.pop(payload.fasta_key)
        yield payload, constructs.build_construct(
            sequence, plan.left_flank, plan.right_flank, plan.construct_length)


def payload_record(payload: PayloadPlan, construct: str) -> bytes:
    """Serialized payload record of one construct (the encoder is case-insensitive)."""
    sites = [(site.name, site.start, site.end) for site in payload.annotations]
    return records.payload_example(genome.encode_sequence(construct), payload.name, payload.group, payload.activity, sites)


def table_row(payload: PayloadPlan, construct: str) -> str:
    """One row of the original ``make_dataset`` table (flanks lower case)."""
    annotation = ";".join(f"{site.name}:{site.start}-{site.end}" for site in payload.annotations)
    fields = (payload.index, payload.name, payload.group, ",".join(payload.splits),
              f"{payload.activity:.3f}", annotation, construct)
    return "\t".join(str(field) for field in fields) + "\n"


class _WriteShardFn(beam.DoFn):
    """Build and write one shard; yields ``(shard, {split: records})``."""

    def __init__(self, plan: DatasetPlan, staging_dir: str, table_dir: Optional[str]):
        super().__init__()
        self._plan = plan
        self._staging_dir = staging_dir
        self._table_dir = table_dir

    def process(self, shard: int):
        import tensorflow as tf

        plan = self._plan
        name = records.shard_name(shard, plan.num_shards)
        token = uuid.uuid4().hex  # retried bundles write their own temp files
        writers: Dict[str, records.ShardWriter] = {}
        temporary: Dict[str, str] = {}
        counts: Dict[str, int] = collections.Counter()
        table = None
        if self._table_dir:
            table_final = os.path.join(self._table_dir, f"part-{shard:05d}.tsv")
            temporary[table_final] = f"{table_final}.tmp-{token}"
            tf.io.gfile.makedirs(self._table_dir)
            table = tf.io.gfile.GFile(temporary[table_final], "w")
        try:
            constructs = progress.shared_progress(iter_shard_constructs(plan, shard), len(plan.payloads),
                                                  "payload constructs", unit="payload")
            for payload, construct in constructs:
                record = payload_record(payload, construct)
                for split in payload.splits:
                    if split not in writers:
                        final = os.path.join(split_dir(self._staging_dir, split), name)
                        temporary[final] = f"{final}.tmp-{token}"
                        writers[split] = records.ShardWriter(temporary[final], GZIP_LEVEL)
                    writers[split].write(record)
                    counts[split] += 1
                if table is not None:
                    table.write(table_row(payload, construct))
        finally:
            for writer in writers.values():
                writer.close()
            if table is not None:
                table.close()
        for final, temp in temporary.items():
            tf.io.gfile.rename(temp, final, overwrite=True)
        yield shard, dict(counts)


class BuildPayloadShards(beam.PTransform):
    """Pipeline root -> ``(shard, {split: count})``; writes the shard files as a side effect.

    Files go to ``<staging_dir>/Split-<name>/`` and, with ``table_dir``, table parts
    ``<table_dir>/part-SSSSS.tsv`` (rows without header, in table order).
    """

    def __init__(self, plan: DatasetPlan, staging_dir: str, table_dir: Optional[str] = None):
        super().__init__()
        self._plan = plan
        self._staging_dir = staging_dir
        self._table_dir = table_dir

    def expand(self, root):
        return (
            root
            | "ShardIds" >> beam.Create(list(range(self._plan.num_shards)))
            # Spread shard ids over workers; only these small ints are shuffled.
            | "Spread" >> beam.Reshuffle()
            | "BuildAndWrite" >> beam.ParDo(_WriteShardFn(self._plan, self._staging_dir, self._table_dir))
        )


def _concatenate_table(plan: DatasetPlan, table_dir: str, table_path: str) -> None:
    """Header + table parts in shard order (= activity-table order), written atomically."""
    import tensorflow as tf

    temp = f"{table_path}.tmp-{uuid.uuid4().hex}"
    try:
        with tf.io.gfile.GFile(temp, "w") as out:
            out.write("\t".join(records.TABLE_COLUMNS) + "\n")
            for shard in range(plan.num_shards):
                with tf.io.gfile.GFile(os.path.join(table_dir, f"part-{shard:05d}.tsv"), "r") as part:
                    while True:
                        chunk = part.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
        tf.io.gfile.rename(temp, table_path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temp):
            tf.io.gfile.remove(temp)


def write_dataset(
    plan: DatasetPlan,
    examples_dir: str,
    make_pipeline: Callable[[], beam.Pipeline],
    table_path: Optional[str] = None,
) -> Dict[str, int]:
    """Run :class:`BuildPayloadShards` and publish ``<examples_dir>/Split-<name>/`` atomically.

    Existing ``Split-*`` directories in ``examples_dir`` are replaced (re-running the CLI
    into the same directory must not mix old and new shards). With ``table_path`` the
    original's TSV table is written too. Returns ``{split: records}``.
    """
    import tensorflow as tf

    staging = os.path.join(examples_dir, f".staging-{uuid.uuid4().hex}")
    table_dir = os.path.join(staging, "table") if table_path else None
    tf.io.gfile.makedirs(staging)
    try:
        with make_pipeline() as pipeline:
            _ = pipeline | "PayloadExamples" >> BuildPayloadShards(plan, staging, table_dir)
        for stale in tf.io.gfile.glob(split_dir(examples_dir, "*")):
            logger.info("replacing %s", stale)
            tf.io.gfile.rmtree(stale)
        for split in plan.split_names:
            target = split_dir(examples_dir, split)
            tf.io.gfile.makedirs(target)
            for path in sorted(tf.io.gfile.glob(records.shard_pattern(staging, split))):
                tf.io.gfile.rename(path, os.path.join(target, os.path.basename(path)), overwrite=True)
        if table_path:
            _concatenate_table(plan, table_dir, table_path)
    finally:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
    counts = plan.split_counts()
    logger.info("wrote %s payload records to %s in %d shard(s)", counts, examples_dir, plan.num_shards)
    return counts
