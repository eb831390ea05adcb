"""Local Beam pipelines for the dataset commands (outside TFX, which brings its own options)."""
from __future__ import annotations

import logging

import apache_beam as beam


def direct_pipeline(workers: int = 1) -> beam.Pipeline:
    """A DirectRunner pipeline: in-process for 1 worker, else multi-processing (0 = all cores)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    # The runner re-raises a failing DoFn's exception to the caller; its own ERROR log of the same
    # traceback would print it twice (and precede the CLI's one-line message for input errors).
    logging.getLogger("apache_beam.runners.common").setLevel(logging.CRITICAL)

    if workers == 1:
        args = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]
    else:
        args = ["--runner=DirectRunner", "--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    return beam.Pipeline(options=PipelineOptions(args))
