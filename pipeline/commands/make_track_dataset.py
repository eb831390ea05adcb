"""``enformer-tfx make-track-dataset``: the original ``make_track_dataset_h5`` step, on Beam.

Writes ``{prefix}/Split-{train,eval}/data_tfrecord-*.gz`` (the same records as the
BigWigTrackGen component, through the same Beam transform), ``{prefix}/tracks.tsv``,
``{prefix}/windows.bed``, ``{prefix}/dataset_info.json`` and ``{prefix}.bed``.
"""
from __future__ import annotations

import argparse

from components.bigwig_track_gen.params import TrackDatasetConfig
from components.config_validation import field_default
from components.errors import InputError


def _default(name: str):
    """Flag defaults are the ``tracks:`` config defaults (one definition)."""
    return field_default(TrackDatasetConfig, name)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "make-track-dataset",
        help="sample genomic windows and bin bigWig tracks into train/eval TFRecords",
        description="Sample windows uniformly without replacement from MAPPABLE_BED, bin every track of "
        "TRACKS_TSV (index identifier file clip scale sum_stat description) into WIDTH bp bins and write "
        "gzipped TFRecords to {prefix}/Split-train and {prefix}/Split-eval, the window list to {prefix}.bed.",
    )
    parser.add_argument("mappable_bed", metavar="MAPPABLE_BED", help="intervals to sample windows from (BED)")
    parser.add_argument("tracks", metavar="TRACKS_TSV", help="track table (seven TAB-separated columns)")
    parser.add_argument("--reference", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--length", type=int, default=_default("length"),
                        help="window length in bp, multiple of --width (default %(default)s)")
    parser.add_argument("--width", type=int, default=_default("width"), help="bin size in bp (default %(default)s)")
    parser.add_argument("--cutoff", type=float, default=_default("cutoff"),
                        help="skip windows whose max-over-tracks std across bins is below this (default 0: keep all)")
    parser.add_argument("--size", type=int, default=_default("size"), help="windows per shard (default %(default)s)")
    parser.add_argument("--batches", type=int, default=_default("batches"), help="number of shards (default %(default)s)")
    parser.add_argument("--seed", type=int, default=_default("seed"),
                        help="random seed: same seed, same bytes (default %(default)s)")
    parser.add_argument("--step", type=int, default=_default("step"),
                        help="spacing of candidate start positions in bp (default %(default)s)")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--eval-chroms", default="", help="held-out chromosomes for eval, comma-separated (e.g. chr19,chrX)")
    split.add_argument("--eval-fraction", type=float, default=None,
                       help="fraction of genome blocks held out for eval (default 0.1 unless --eval-chroms)")
    parser.add_argument("--split-block", type=int, default=None,
                        help="block size in bp for --eval-fraction (default 10 x length)")
    parser.add_argument("--sampling", choices=("uniform", "hotspots", "blocks"), default=_default("sampling"),
                        help="uniform: any --step-spaced window; blocks: non-overlapping --length tiles of the "
                             "mappable intervals; hotspots: windows grouping the intervals of --hotspots "
                             "(default %(default)s)")
    parser.add_argument("--hotspots", help="BED of hotspot intervals (e.g. DHS hotspots) for --sampling hotspots")
    parser.add_argument("--min-mappable", type=float, default=_default("min_mappable"),
                        help="--sampling hotspots: least fraction of a window inside MAPPABLE_BED "
                             "(default %(default)s)")
    parser.add_argument("--prefix", required=True, help="output prefix: writes {prefix}/ and {prefix}.bed")
    parser.add_argument("--workers", type=int, default=1,
                        help="local Beam workers (1 = in-process, 0 = all cores; default 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 0:
        raise InputError(f"--workers must be >= 0, got {args.workers}")
    config = TrackDatasetConfig(
        reference=args.reference, mappable_bed=args.mappable_bed, tracks=args.tracks, length=args.length,
        width=args.width, cutoff=args.cutoff, size=args.size, batches=args.batches, seed=args.seed, step=args.step,
        eval_chroms=args.eval_chroms, eval_fraction=args.eval_fraction, split_block=args.split_block,
        sampling=args.sampling, hotspots=args.hotspots, min_mappable=args.min_mappable)
    from components.bigwig_track_gen import dataset  # imports Beam: only after the settings are valid
    from components.direct_runner import direct_pipeline
    from components.outputs import atomic_outputs

    prefix = args.prefix.rstrip("/")
    with atomic_outputs() as outputs:
        # build_track_dataset removes its own files on failure; the group removes the directories made here.
        outputs.directory(prefix)
        info = dataset.build_track_dataset(config, prefix, lambda: direct_pipeline(args.workers),
                                           bed_copy=f"{prefix}.bed")
    counts = info["counts"]
    print(f"wrote {prefix}/Split-train ({counts['train']['written']} windows) and {prefix}/Split-eval "
          f"({counts['eval']['written']} windows); {sum(c['below_cutoff'] for c in counts.values())} below cutoff "
          f"skipped; windows in {prefix}.bed; {info['n_tracks']} tracks x {info['bins']} bins per window")
    return 0
