"""``enformer-tfx to-bedgraph``: the original ``src.data.array_to_bedgraph`` (+ ``--bigwig``).

Row ``r`` of ``ARRAY.npy`` (``[regions, bins, tracks]``; ``[regions, bins]`` = one track) is
placed on BED region ``r``: by the tiling recorded in the ``.npy.json`` sidecar written by
``predict-regions`` (which also supplies ``step``, the track of each column and its
identifier), else on the window of ``bins * step`` bp centred on the region (the original
layout). Overlapping bins are averaged; output sorted and non-overlapping. Without chromosome
sizes the command refuses arrays whose bins would start before position 0; with them every
interval is clipped to ``[0, chromosome size)``. Conventions: :mod:`components.signal_output`.
No TensorFlow.
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "to-bedgraph",
        help="prediction array (.npy) + BED -> one bedGraph (or bigWig) per track",
        description="Write {prefix}.{track}.bedgraph (and {prefix}.{track}.bw with --bigwig) from a "
                    "[regions, bins, tracks] array; overlapping regions are averaged per bin; intervals are "
                    "clipped to the chromosome sizes (--reference or --chrom-sizes; required unless every "
                    "interval already starts at >= 0).",
    )
    parser.add_argument("regions", help="BED file the array was predicted on (same order)")
    parser.add_argument("array", help="prediction array .npy")
    parser.add_argument("--tracks", type=int, nargs="+", help="track ids to write (default: all columns)")
    parser.add_argument("--prefix", default="track", help="output prefix (default %(default)s)")
    parser.add_argument("--step", type=int, help="bp per bin (default: from the .npy.json sidecar, else 128)")
    parser.add_argument("--bigwig", action="store_true", help="write bigWig files (needs chromosome sizes)")
    parser.add_argument("--no-bedgraph", action="store_true", help="with --bigwig: skip the bedGraph files")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--reference", help="reference FASTA: chromosome sizes from its index")
    sizes.add_argument("--chrom-sizes", help="UCSC chrom.sizes file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from components import genome, signal_output
    from components.errors import InputError

    if not os.path.exists(args.array):
        raise InputError(f"{args.array}: array not found")
    try:
        array = np.load(args.array, mmap_mode="r")
    except ValueError as error:
        raise InputError(f"{args.array}: not a .npy array ({error})") from None
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise InputError(f"{args.array}: expected [regions, bins, tracks], got shape {array.shape}")
    records = list(genome.read_bed(args.regions))
    if array.shape[0] != len(records):
        raise InputError(f"{args.array} has {array.shape[0]} rows but {args.regions} has {len(records)} regions: "
                         "the array must come from predictions on this BED file, in the same order")
    info = signal_output.read_sidecar(args.array)
    step = args.step or int(info.get("step", 128))
    if step < 1:
        raise InputError(f"--step must be >= 1, got {step}")
    columns = signal_output.track_columns(args.tracks, info.get("tracks"), array.shape[2])
    chrom_sizes = None
    if args.reference:
        chrom_sizes = genome.read_chrom_sizes_from_fai(args.reference)
    elif args.chrom_sizes:
        chrom_sizes = signal_output.read_chrom_sizes(args.chrom_sizes)
    starts, limits = signal_output.row_layout([(r.start, r.end) for r in records], info, array.shape[1], step)
    chroms = [r.chrom for r in records]
    if chrom_sizes is None and limits is None:  # rows limited to their BED regions start at >= 0
        # Only bins holding a value are written: a row's first finite bin is where it must fit.
        finite = np.isfinite(np.asarray(array[:, :, list(columns.values())])).any(axis=2)  # [regions, bins]
        first = [int(s) + int(np.argmax(row)) * step for s, row in zip(starts, finite)]
        signal_output.check_fits([c if row.any() else None for c, row in zip(chroms, finite)], first,
                                 [f"{args.regions}:{r.line}" for r in records])
    labels, descriptions = signal_output.labelled_columns(columns, info)
    files = signal_output.write_signal(chroms, starts, array, labels, args.prefix, step,
                                       chrom_sizes, bedgraph=not (args.no_bedgraph and args.bigwig),
                                       bigwig=args.bigwig, descriptions=descriptions, row_limits=limits)
    print(f"{len(records)} regions x {len(columns)} track(s) ({array.shape[1]} bins of {step} bp) -> "
          + ", ".join(files))
    return 0
