"""The record contract between the example generators, the trainer, evaluation and prediction.

Both generators write gzipped TFRecord shards of ``tf.train.Example`` records with this module's
writer, and every reader (``trainer.inputs``, the export's serving signature, the evaluation
report, tests and tools) parses them with this module's specs. See ``docs/architecture.md``,
"Record contract".

Layout of an examples directory (a TFX ``Examples`` artifact URI or a CLI output prefix)::

    Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz   gzipped TFRecords, one shard per file
    dataset_info.json                             track datasets: length, width, tracks, counts
    dataset.tsv                                   payload datasets: the make-dataset table
                                                  (what ``predict`` reads)

Payload record (one per payload construct):

==================== ============ ==========================================================
feature              type         content
==================== ============ ==========================================================
``sequence``         bytes [1]    uint8 codes (A=0 C=1 G=2 T=3 N=4) of the whole construct
                                  (window + room for shifts)
``activity``         float [1]    mean of the replicate activities
``name``             bytes [1]    payload name as in the activity table (``~`` kept)
``group``            bytes [1]    payload group
``annotation_start`` int64 [n]    site starts, construct coordinates, 0-based
``annotation_end``   int64 [n]    site ends (exclusive), construct coordinates
``annotation_name``  bytes [n]    site names (``n`` may be 0)
==================== ============ ==========================================================

Track record (one per genomic window):

============ ========= ================================================================
``sequence`` bytes [1] uint8 codes of the window, ``[length]``
``target``   bytes [1] little-endian float16 ``[length // width, n_tracks]``, row-major
``chrom``    bytes [1] chromosome
``start``    int64 [1] window start, 0-based
``end``      int64 [1] window end (exclusive)
============ ========= ================================================================

Records are encoded here in pure Python (no TensorFlow on Beam workers, so they start fast) and
byte-identical to ``tf.train.Example.SerializeToString(deterministic=True)`` (features in sorted
key order); the tests check this against TensorFlow. Parse specs and in-graph decoding import
TensorFlow lazily, only when called.
"""
from __future__ import annotations

import gzip
import os
import struct
from typing import IO, Any, Dict, Iterator, List, Mapping, Sequence, Tuple, Union

import numpy as np

# --- examples directory layout ----------------------------------------------------------------

SPLIT_PREFIX = "Split-"
SHARD_PREFIX = "data_tfrecord"
DATASET_INFO = "dataset_info.json"
# Columns of the original project's ``make_dataset`` TSV table (written by ``make-dataset``).
TABLE_COLUMNS = ("index", "name", "group", "fold", "activity", "annotation", "sequence")
# The same table kept inside a payload Examples artifact (``predict`` accepts the artifact directory).
DATASET_TABLE = "dataset.tsv"
# Inside an exported SavedModel: facts about the model (input length, outputs, head configs), and
# the weights as a tf.train.Checkpoint in the original project's format.
MODEL_METADATA = os.path.join("assets.extra", "enformer_tfx.json")
MODEL_WEIGHTS = os.path.join("assets.extra", "weights")

# The default model window, in bp, of payload constructs, track records and prediction:
# 25,600 bp = 200 output bins of 128 bp (the original scripts' window).
DEFAULT_WINDOW_LENGTH = 25_600


def split_dir(root: str, split: str) -> str:
    """``<root>/Split-<split>`` (the TFX split layout)."""
    return os.path.join(root, f"{SPLIT_PREFIX}{split}")


def shard_name(shard: int, num_shards: int) -> str:
    """``data_tfrecord-SSSSS-of-NNNNN.gz``."""
    return f"{SHARD_PREFIX}-{shard:05d}-of-{num_shards:05d}.gz"


def shard_pattern(root: str, split: str) -> str:
    """Glob of every shard of one split under ``root``."""
    return os.path.join(split_dir(root, split), f"{SHARD_PREFIX}-*.gz")


# --- feature names ------------------------------------------------------------------------------

SEQUENCE = "sequence"
ACTIVITY = "activity"
NAME = "name"
GROUP = "group"
ANNOTATION_START = "annotation_start"
ANNOTATION_END = "annotation_end"
ANNOTATION_NAME = "annotation_name"
PAYLOAD_FEATURES = (SEQUENCE, ACTIVITY, NAME, GROUP, ANNOTATION_START, ANNOTATION_END, ANNOTATION_NAME)

TARGET = "target"
CHROM = "chrom"
START = "start"
END = "end"
TRACK_FEATURES = (SEQUENCE, TARGET, CHROM, START, END)
TARGET_DTYPE = "<f2"


# --- pure-Python tf.train.Example encoding ------------------------------------------------------

FeatureValue = Union[bytes, Sequence[bytes], float, Sequence[float], int, Sequence[int]]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values: two's complement, 10 bytes
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _packed(number: int, payload: bytes) -> bytes:
    """A packed repeated field; protobuf writes nothing for an empty list."""
    return _field(number, payload) if payload else b""


def bytes_feature(values: Sequence[bytes]) -> bytes:
    """``Feature.bytes_list`` (field 1) of ``values``."""
    return _field(1, b"".join(_field(1, value) for value in values))


def float_feature(values: Sequence[float]) -> bytes:
    """``Feature.float_list`` (field 2), packed little-endian float32."""
    return _field(2, _packed(1, np.asarray(values, dtype="<f4").tobytes()))


def int64_feature(values: Sequence[int]) -> bytes:
    """``Feature.int64_list`` (field 3), packed varints."""
    return _field(3, _packed(1, b"".join(_varint(int(value)) for value in values)))


def encode_example(features: Mapping[str, bytes]) -> bytes:
    """Serialized ``tf.train.Example`` of already encoded features (``*_feature`` results)."""
    entries = b"".join(_field(1, _field(1, key.encode()) + _field(2, features[key])) for key in sorted(features))
    return _field(1, entries)  # Example.features(1) -> Features.feature(1) map entries


def payload_example(codes: np.ndarray, name: str, group: str, activity: float,
                    annotations: Sequence[Tuple[str, int, int]] = ()) -> bytes:
    """Serialized payload record.

    Args:
      codes: ``[construct_length]`` uint8 sequence codes.
      annotations: ``(site name, start, end)`` in construct coordinates.
    """
    return encode_example({
        SEQUENCE: bytes_feature([np.ascontiguousarray(codes, dtype=np.uint8).tobytes()]),
        ACTIVITY: float_feature([activity]),
        NAME: bytes_feature([name.encode("utf-8")]),
        GROUP: bytes_feature([group.encode("utf-8")]),
        ANNOTATION_START: int64_feature([start for _, start, _ in annotations]),
        ANNOTATION_END: int64_feature([end for _, _, end in annotations]),
        ANNOTATION_NAME: bytes_feature([site.encode("utf-8") for site, _, _ in annotations]),
    })


def track_example(codes: np.ndarray, target: np.ndarray, chrom: str, start: int, end: int) -> bytes:
    """Serialized track record.

    Args:
      codes: ``[length]`` uint8 sequence codes.
      target: ``[bins, n_tracks]`` values, stored as float16.
    """
    return encode_example({
        SEQUENCE: bytes_feature([np.ascontiguousarray(codes, dtype=np.uint8).tobytes()]),
        TARGET: bytes_feature([np.ascontiguousarray(target, dtype=TARGET_DTYPE).tobytes()]),
        CHROM: bytes_feature([chrom.encode()]),
        START: int64_feature([start]),
        END: int64_feature([end]),
    })


# --- TFRecord framing and the shard writer --------------------------------------------------------


def _masked_crc(data: bytes) -> int:
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord_frame(data: bytes) -> bytes:
    """One TFRecord: length, masked CRC32C of the length, data, masked CRC32C of the data."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data))


class ShardWriter:
    """Writes framed records into one gzipped TFRecord file (the one writer of both generators).

    The gzip header is fixed (no file name, mtime 0), so a shard's bytes depend only on its
    records and the level. Local paths and ``gs://`` both work (Beam ``FileSystems``); the caller
    writes to a temporary name and renames, so no reader ever sees a partial shard.
    """

    def __init__(self, path: str, compresslevel: int):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        if "://" not in path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self.count = 0
        self._raw: IO[bytes] = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._out = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=compresslevel, filename="", mtime=0)

    def write(self, record: bytes) -> None:
        """Append one serialized record (unframed)."""
        self._out.write(tfrecord_frame(record))
        self.count += 1

    def write_framed(self, framed: bytes) -> None:
        """Append bytes that are already TFRecord frames (from :func:`tfrecord_frame`)."""
        self._out.write(framed)

    def close(self) -> None:
        try:
            self._out.close()
        finally:
            self._raw.close()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def iter_frames(handle: IO[bytes], where: str = "TFRecord stream") -> Iterator[bytes]:
    """Serialized records of an open binary stream of TFRecord frames (checksums verified)."""
    while True:
        header = handle.read(12)
        if not header:
            return
        if len(header) < 12:
            raise ValueError(f"{where}: truncated TFRecord header")
        (length,) = struct.unpack("<Q", header[:8])
        data = handle.read(length)
        footer = handle.read(4)
        if len(data) < length or len(footer) < 4:
            raise ValueError(f"{where}: truncated TFRecord")
        if struct.unpack("<I", footer)[0] != _masked_crc(data):
            raise ValueError(f"{where}: TFRecord checksum mismatch")
        yield data


def iter_records(path: str) -> Iterator[bytes]:
    """Serialized records of one gzipped TFRecord file, without TensorFlow (tests, tools)."""
    with gzip.open(path, "rb") as handle:
        yield from iter_frames(handle, path)


# --- parsing (TensorFlow, imported when called) ---------------------------------------------------


def payload_feature_spec() -> Dict[str, Any]:
    """``tf.io.parse_example`` spec of payload records (annotation lists as ragged tensors)."""
    import tensorflow as tf

    return {
        SEQUENCE: tf.io.FixedLenFeature([], tf.string),
        ACTIVITY: tf.io.FixedLenFeature([], tf.float32),
        NAME: tf.io.FixedLenFeature([], tf.string),
        GROUP: tf.io.FixedLenFeature([], tf.string),
        ANNOTATION_START: tf.io.RaggedFeature(tf.int64),
        ANNOTATION_END: tf.io.RaggedFeature(tf.int64),
        ANNOTATION_NAME: tf.io.RaggedFeature(tf.string),
    }


def track_feature_spec() -> Dict[str, Any]:
    """``tf.io.parse_example`` spec of track records."""
    import tensorflow as tf

    return {
        SEQUENCE: tf.io.FixedLenFeature([], tf.string),
        TARGET: tf.io.FixedLenFeature([], tf.string),
        CHROM: tf.io.FixedLenFeature([], tf.string),
        START: tf.io.FixedLenFeature([], tf.int64),
        END: tf.io.FixedLenFeature([], tf.int64),
    }


def sequence_spec() -> Dict[str, Any]:
    """Spec of the ``sequence`` feature alone (serving: both record types carry it)."""
    import tensorflow as tf

    return {SEQUENCE: tf.io.FixedLenFeature([], tf.string)}


def decode_target(target_bytes: Any, n_tracks: int) -> Any:
    """float16 target bytes -> float32 ``[bins, n_tracks]`` (scalar input) or
    ``[B, bins, n_tracks]`` (``[B]`` input of equal lengths); in-graph."""
    import tensorflow as tf

    values = tf.io.decode_raw(target_bytes, tf.float16, little_endian=True)
    shape = tf.concat([tf.shape(values)[:-1], [-1, n_tracks]], axis=0)
    return tf.cast(tf.reshape(values, shape), tf.float32)


# --- plain-Python decoding (tests, tools) -----------------------------------------------------------


def _example_features(serialized: bytes) -> Any:
    import tensorflow as tf

    return tf.train.Example.FromString(serialized).features.feature


def parse_payload_record(serialized: bytes) -> Dict[str, Any]:
    """Plain view of one payload record: ``sequence`` as ``[L]`` uint8, lists as lists."""
    feature = _example_features(serialized)
    return {
        SEQUENCE: np.frombuffer(feature[SEQUENCE].bytes_list.value[0], dtype=np.uint8),
        ACTIVITY: feature[ACTIVITY].float_list.value[0],
        NAME: feature[NAME].bytes_list.value[0].decode(),
        GROUP: feature[GROUP].bytes_list.value[0].decode(),
        ANNOTATION_START: list(feature[ANNOTATION_START].int64_list.value),
        ANNOTATION_END: list(feature[ANNOTATION_END].int64_list.value),
        ANNOTATION_NAME: [value.decode() for value in feature[ANNOTATION_NAME].bytes_list.value],
    }


def parse_track_record(serialized: bytes, n_tracks: int) -> Dict[str, Any]:
    """Plain view of one track record: ``sequence`` ``[L]`` uint8, ``target`` ``[bins, n_tracks]`` float16."""
    feature = _example_features(serialized)
    target = np.frombuffer(feature[TARGET].bytes_list.value[0], dtype=TARGET_DTYPE)
    return {
        SEQUENCE: np.frombuffer(feature[SEQUENCE].bytes_list.value[0], dtype=np.uint8),
        TARGET: target.reshape(-1, n_tracks),
        CHROM: feature[CHROM].bytes_list.value[0].decode(),
        START: feature[START].int64_list.value[0],
        END: feature[END].int64_list.value[0],
    }


def read_split(root: str, split: str) -> List[bytes]:
    """Every serialized record of one split, in shard order (tests, tools)."""
    import glob

    return [record for path in sorted(glob.glob(shard_pattern(root, split))) for record in iter_records(path)]
