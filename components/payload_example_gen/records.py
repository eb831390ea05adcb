"""The payload ``tf.Example`` record: building it, and the feature spec to parse it.

One record per payload (ARCHITECTURE.md, "Example records"):

==================== ============ ==========================================================
feature              type         content
==================== ============ ==========================================================
``sequence``         bytes [1]    uint8 codes (A=0 C=1 G=2 T=3 N=4) of the whole construct,
                                  ``construct_length`` bytes; decode with
                                  ``tf.io.decode_raw(x, tf.uint8)``
``activity``         float [1]    mean of the replicate activities
``name``             bytes [1]    payload name as in the activity table (``~`` kept)
``group``            bytes [1]    payload group
``annotation_start`` int64 [n]    site starts, construct coordinates, 0-based
``annotation_end``   int64 [n]    site ends (exclusive), construct coordinates
``annotation_name``  bytes [n]    site names (``n`` may be 0)
``eval_offsets``     int64 [k]    fixed evaluation window starts in
                                  ``[0, construct_length - window_length]``, seeded per payload
==================== ============ ==========================================================

Records are serialized deterministically (sorted feature map), so their bytes do not depend
on the process that built them.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from components import genome
from components.payload_example_gen.constructs import Annotation

FEATURES = (
    "sequence", "activity", "name", "group",
    "annotation_start", "annotation_end", "annotation_name", "eval_offsets",
)


def make_example(
    construct: str,
    name: str,
    group: str,
    activity: float,
    annotations: Sequence[Annotation],
    offsets: Sequence[int],
) -> bytes:
    """Serialized ``tf.train.Example`` for one payload construct (see module table)."""
    import tensorflow as tf  # workers import TF once; the CLI's --help never does

    codes = genome.encode_sequence(construct)  # the encoder is case-insensitive
    feature = tf.train.Feature
    features = {
        "sequence": feature(bytes_list=tf.train.BytesList(value=[codes.tobytes()])),
        "activity": feature(float_list=tf.train.FloatList(value=[activity])),
        "name": feature(bytes_list=tf.train.BytesList(value=[name.encode("utf-8")])),
        "group": feature(bytes_list=tf.train.BytesList(value=[group.encode("utf-8")])),
        # Empty lists still set the value kind, so every record carries every feature.
        "annotation_start": feature(int64_list=tf.train.Int64List(value=[site.start for site in annotations])),
        "annotation_end": feature(int64_list=tf.train.Int64List(value=[site.end for site in annotations])),
        "annotation_name": feature(bytes_list=tf.train.BytesList(value=[site.name.encode("utf-8") for site in annotations])),
        "eval_offsets": feature(int64_list=tf.train.Int64List(value=list(offsets))),
    }
    example = tf.train.Example(features=tf.train.Features(feature=features))
    return example.SerializeToString(deterministic=True)


def feature_spec(num_eval_offsets: Optional[int] = None) -> Dict[str, object]:
    """``tf.io.parse_example`` spec for payload records.

    Variable-length lists parse as ``tf.RaggedTensor``; pass ``num_eval_offsets`` to parse
    ``eval_offsets`` as a dense ``[k]`` tensor instead.
    """
    import tensorflow as tf

    return {
        "sequence": tf.io.FixedLenFeature([], tf.string),
        "activity": tf.io.FixedLenFeature([], tf.float32),
        "name": tf.io.FixedLenFeature([], tf.string),
        "group": tf.io.FixedLenFeature([], tf.string),
        "annotation_start": tf.io.RaggedFeature(tf.int64),
        "annotation_end": tf.io.RaggedFeature(tf.int64),
        "annotation_name": tf.io.RaggedFeature(tf.string),
        "eval_offsets": (tf.io.FixedLenFeature([num_eval_offsets], tf.int64) if num_eval_offsets
                         else tf.io.RaggedFeature(tf.int64)),
    }


def parse_record(serialized: bytes) -> Dict[str, object]:
    """Plain-Python view of one record (tests and tools): codes as ``[L]`` uint8 array."""
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature
    return {
        "sequence": np.frombuffer(feature["sequence"].bytes_list.value[0], dtype=np.uint8),
        "activity": feature["activity"].float_list.value[0],
        "name": feature["name"].bytes_list.value[0].decode(),
        "group": feature["group"].bytes_list.value[0].decode(),
        "annotation_start": list(feature["annotation_start"].int64_list.value),
        "annotation_end": list(feature["annotation_end"].int64_list.value),
        "annotation_name": [value.decode() for value in feature["annotation_name"].bytes_list.value],
        "eval_offsets": list(feature["eval_offsets"].int64_list.value),
    }
