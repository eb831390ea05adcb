"""The record contract: pure-Python encoding equals TensorFlow's, the shard writer and readers."""
from __future__ import annotations

import os

import numpy as np
import pytest

from components import records


def _tf_example(features: dict) -> bytes:
    import tensorflow as tf

    feature = {}
    for key, (kind, values) in features.items():
        if kind == "bytes":
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        elif kind == "float":
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


@pytest.mark.parametrize("sites", [[], [("DHS1", 10, 170), ("Ψ-site", 300, 461), ("deep", 2**40, 2**40 + 5)]])
def test_payload_example_bytes_equal_tensorflow(sites):
    codes = np.random.default_rng(0).integers(0, 5, 777).astype(np.uint8)
    ours = records.payload_example(codes, "LCR~del1", "LCR~deletion", 1.375, sites)
    theirs = _tf_example({
        "sequence": ("bytes", [codes.tobytes()]), "activity": ("float", [1.375]),
        "name": ("bytes", [b"LCR~del1"]), "group": ("bytes", [b"LCR~deletion"]),
        "annotation_start": ("int", [s for _, s, _ in sites]), "annotation_end": ("int", [e for _, _, e in sites]),
        "annotation_name": ("bytes", [n.encode() for n, _, _ in sites]),
    })
    assert ours == theirs
    parsed = records.parse_payload_record(ours)
    np.testing.assert_array_equal(parsed["sequence"], codes)
    assert parsed["annotation_name"] == [n for n, _, _ in sites] and parsed["activity"] == 1.375


def test_track_example_bytes_equal_tensorflow():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, 512).astype(np.uint8)
    target = rng.random((4, 3)).astype(np.float16)
    ours = records.track_example(codes, target, "chrX", 0, 512)
    theirs = _tf_example({"sequence": ("bytes", [codes.tobytes()]), "target": ("bytes", [target.astype("<f2").tobytes()]),
                          "chrom": ("bytes", [b"chrX"]), "start": ("int", [0]), "end": ("int", [512])})
    assert ours == theirs
    parsed = records.parse_track_record(ours, 3)
    np.testing.assert_array_equal(parsed["target"], target)
    assert (parsed["chrom"], parsed["start"], parsed["end"]) == ("chrX", 0, 512)


def test_int64_feature_negative_values_equal_tensorflow():
    ours = records.encode_example({"v": records.int64_feature([-1, 0, 2**62, -(2**63)])})
    assert ours == _tf_example({"v": ("int", [-1, 0, 2**62, -(2**63)])})


def test_shard_writer_is_read_by_tensorflow_and_readers(tmp_path):
    import tensorflow as tf

    payloads = [records.payload_example(np.full(n, 2, np.uint8), f"p{n}", "g", float(n)) for n in (5, 50, 500)]
    path = os.path.join(records.split_dir(str(tmp_path), "train"), records.shard_name(0, 1))
    with records.ShardWriter(path, compresslevel=4) as writer:
        for record in payloads:
            writer.write(record)
    assert writer.count == 3
    assert [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")] == payloads
    assert list(records.iter_records(path)) == payloads
    assert records.read_split(str(tmp_path), "train") == payloads
    # Same records, same bytes: the gzip header carries no name or time.
    again = str(tmp_path / "again.gz")
    with records.ShardWriter(again, compresslevel=4) as writer:
        for record in payloads:
            writer.write(record)
    assert open(path, "rb").read() == open(again, "rb").read()


def test_corrupt_shard_is_reported(tmp_path):
    import gzip

    path = str(tmp_path / "bad.gz")
    frame = bytearray(records.tfrecord_frame(b"payload bytes"))
    frame[-1] ^= 0xFF
    with gzip.open(path, "wb") as handle:
        handle.write(bytes(frame))
    with pytest.raises(ValueError, match="bad.gz: TFRecord checksum mismatch"):
        list(records.iter_records(path))


def test_layout_names():
    assert records.shard_name(3, 12) == "data_tfrecord-00003-of-00012.gz"
    assert records.split_dir("/x", "eval") == os.path.join("/x", "Split-eval")
    assert records.shard_pattern("/x", "eval") == os.path.join("/x", "Split-eval", "data_tfrecord-*.gz")
