"""The pipeline's attribution step without TFX: which held-out payloads, explained and written.

* :func:`held_out_names` -- distinct payload names of one split of an Examples artifact (the
  Evaluator's ``eval`` split), read with ``tf.io.gfile`` so ``gs://`` URIs work.
* :func:`choose_payloads` -- ``N`` of them, deterministically: the first ``N`` in sorted order,
  or a seeded choice.
* :func:`explain_payloads` -- the same attribution and files as ``enformer-tfx attribute``
  (:mod:`.report`) of those payloads' activity; :func:`write_summary` -- ``summary.json``.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from components import records
from components.errors import InputError
from components.interpret import attribution, report
from components.interpret.params import HELD_OUT_SPLIT, InterpretConfig

LOG = logging.getLogger(__name__)

REPORT_PREFIX = "attribution"  # PREFIX of the report files inside the artifact
SUMMARY_FILE = "summary.json"


def held_out_names(examples_uri: str, split: str = HELD_OUT_SPLIT) -> List[str]:
    """Sorted distinct payload names (as in the activity table, ``~`` kept) of ``split``.

    Raises:
      InputError: the artifact has no shards of that split.
    """
    import tensorflow as tf

    pattern = records.shard_pattern(examples_uri, split)
    paths = sorted(tf.io.gfile.glob(pattern))
    if not paths:
        raise InputError(f"{examples_uri}: no {split!r} split to take held-out payloads from (no {pattern})")
    names = set()
    for path in paths:
        with tf.io.gfile.GFile(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as handle:
            for serialized in records.iter_frames(handle, path):
                names.add(records.parse_payload_record(serialized)[records.NAME])
    return sorted(names)


def choose_payloads(names: Sequence[str], count: int, seed: Optional[int] = None) -> List[str]:
    """``count`` of ``names`` (all when fewer), in sorted order.

    ``seed`` None: the first ``count`` names in sorted order; otherwise a uniform choice
    without replacement from ``numpy.random.default_rng(seed)`` over the sorted names.
    """
    ordered = sorted(set(names))
    if seed is None or count >= len(ordered):
        return ordered[:count]
    picked = np.random.default_rng(seed).choice(len(ordered), size=count, replace=False)
    return [ordered[index] for index in sorted(picked)]


def explain_payloads(model_fn: attribution.ModelFn, window: int, names: Sequence[str], payload_fasta: str,
                     annotation_bed: Optional[str], reference_fasta: Optional[str], context: Optional[str],
                     construct_length: int, options: InterpretConfig, output_dir: str) -> Dict[str, Any]:
    """Attribute the activity of payloads ``names`` and write the report into ``output_dir``.

    Args:
      model_fn: ``one_hot [B, window, 4] -> {"activity": [B], ...}`` (differentiable for saliency).
      names: payload names as in the activity table (``~`` is looked up as ``_`` in the FASTA).
      payload_fasta, annotation_bed, reference_fasta, context, construct_length: how the
        examples were built (the ``payloads:`` section), so each construct is spliced exactly as
        in training.

    Writes ``attribution.bedgraph``, ``attribution.npz``, ``attribution.<payload>.png`` (with
    ``options.figures``) and the motif files (with ``options.motifs``) into the local directory
    ``output_dir``; returns the summary for ``summary.json`` (``files``: names relative to
    ``output_dir``).
    """
    payloads = report.read_payloads(payload_fasta, list(names), annotation_bed)
    target = report.Target(attribution.ACTIVITY)

    def progress(number: int, result: report.PayloadAttribution) -> None:
        LOG.info("interpret: [%d/%d] %s: %d/%d bp scored, prediction %.4g, %.1f s", number, len(payloads),
                 result.name, result.window.last - result.window.first, len(result.codes),
                 result.reference_score, result.seconds)

    results = report.attribute_payloads(model_fn, window, payloads, reference_fasta, context, construct_length,
                                        target, options.method, options.reverse_complement, options.batch_size,
                                        progress)
    motif_options = report.MotifOptions() if options.motifs else None
    paths = report.write_report(os.path.join(output_dir, REPORT_PREFIX), results, options.method, target,
                                motif_options, figures=options.figures)
    summary = {
        "method": options.method, "target": target.label, "reverse_complement": options.reverse_complement,
        "payloads": [{"name": r.name, "length": int(len(r.codes)), "scored": [r.window.first, r.window.last],
                      "window_offset": int(r.window.offset), "prediction": r.reference_score,
                      "seconds": round(r.seconds, 3)} for r in results],
        "files": [os.path.basename(path) for path in paths],
    }
    return summary


def write_summary(output_dir: str, summary: Dict[str, Any]) -> str:
    """``summary.json`` in ``output_dir`` (any ``tf.io.gfile`` path), written whole or not at all."""
    import tensorflow as tf

    tf.io.gfile.makedirs(output_dir)
    path = os.path.join(output_dir, SUMMARY_FILE)
    temporary = path + ".tmp"
    with tf.io.gfile.GFile(temporary, "w") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
    tf.io.gfile.rename(temporary, path, overwrite=True)
    return path
