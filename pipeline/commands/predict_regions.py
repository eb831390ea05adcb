"""``enformer-tfx predict-regions``: the original ``src.models.predict_array``, plus bedGraph/bigWig.

Regions of a BED file are resized to a common multiple of ``--length``, cut into fragments,
predicted on ``--strides`` 1-bp shifts (and ``--rc``) and averaged; the array is written as
``.npy`` (``[regions, bins, tracks]``, float32, NaN rows for regions that failed) with a
``.npy.json`` sidecar, and each ``--tracks`` track as ``{prefix}.{track}.bedgraph`` and
``{prefix}.{track}.bw``. Conventions: :mod:`trainer.predict.regions`, :mod:`components.signal_output`.
"""
from __future__ import annotations

import argparse
import os
import sys

from pipeline.commands.predict import MODEL_HELP, add_model_arguments

# Without --tracks every track goes into the .npy, but bedGraph/bigWig files are written only
# for heads this small (the mouse head alone would mean 1,643 pairs of files).
MAX_DEFAULT_TRACK_FILES = 32


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict-regions",
        help="predict BED regions (stride/strand ensembling) -> .npy + bedGraph + bigWig per track",
        description="Resize each BED region to a multiple of --length, predict its fragments averaged over "
                    "--strides 1-bp shifts (and --rc), write the .npy array and bedGraph/bigWig tracks.",
    )
    parser.add_argument("model", help=MODEL_HELP + "; with --head PATH (head checkpoint): the trunk")
    parser.add_argument("regions", help="BED file of target regions (0-based, half-open)")
    parser.add_argument("--head", default="mouse",
                        help="'human', 'mouse', 'finetune' (payload head; one value per fragment) or PATH to a "
                             "track head (checkpoint or exported track model) (default %(default)s)")
    parser.add_argument("--reference", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--length", type=int, help="fragment/window bp (default: the model's fixed length, else 25600)")
    parser.add_argument("--strides", type=int, default=10, help="1-bp shifts averaged per fragment (default %(default)s)")
    parser.add_argument("--fragments", type=int,
                        help="fragments per region (default: ceil(longest region / --length))")
    parser.add_argument("--rc", action="store_true", help="also average reverse-complement predictions")
    parser.add_argument("--tracks", type=int, nargs="+",
                        help="track indices to keep (default: all; bedGraph/bigWig for at most "
                             f"{MAX_DEFAULT_TRACK_FILES} tracks unless listed)")
    parser.add_argument("--batch", type=int, default=0,
                        help="forward windows per model call (default 0 = all windows of a region)")
    parser.add_argument("--prefix", help="bedGraph/bigWig prefix (default: --output without .npy)")
    parser.add_argument("--output", default="array.npy", help="prediction array (default %(default)s)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def head_request(head: str, tracks):
    """``(request, output name, track-head path or None)`` for ``--head``."""
    from components.errors import InputError
    from trainer.predict.predictor import ACTIVITY, SPECIES_HEADS, TRACKS

    if head in SPECIES_HEADS:
        return {head: tracks}, head, None
    if head == "finetune":
        if tracks not in (None, [0]):
            raise InputError("--head finetune has a single output (track 0)")
        return {ACTIVITY: None}, ACTIVITY, None
    if os.path.exists(head) or os.path.exists(head + ".index"):
        return {TRACKS: tracks}, TRACKS, head
    raise InputError(f"unknown head {head!r}: use 'human', 'mouse', 'finetune' or the path of a track head "
                     "(checkpoint directory or exported track model)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from components import genome, signal_output
    from components.errors import InputError
    from components.outputs import atomic_outputs
    from trainer.predict import regions
    from trainer.predict.predictor import ACTIVITY, load_predictor

    if args.tracks is not None and len(set(args.tracks)) != len(args.tracks):
        raise InputError(f"--tracks lists a track twice: {args.tracks}")
    request, output_name, track_head = head_request(args.head, args.tracks)
    records = list(genome.read_bed(args.regions))
    if not records:
        raise InputError(f"{args.regions}: no regions")
    with genome.ReferenceGenome(args.reference) as reference, atomic_outputs() as outputs:
        predictor = load_predictor(args.model, request, args.length, baseline=args.baseline, track_head=track_head,
                                   key_size=args.key_size, value_size=args.value_size, num_heads=args.num_heads)
        array_path = outputs.reserve(args.output)  # every output is published together, or none
        result = regions.predict_regions(predictor, reference, records, array_path, output_name,
                                         strides=args.strides, reverse_complement=args.rc,
                                         fragments=args.fragments, batch=args.batch)
        step = predictor.input_length if output_name == ACTIVITY else predictor.input_length // predictor.bins
        columns = predictor.outputs[output_name]
        stored = list(columns) if columns is not None else list(range(result.shape[2]))
        signal_output.write_sidecar(args.output, {
            "model": args.model, "head": args.head, "output": output_name, "tracks": stored, "step": step,
            "span": result.span, "length": predictor.input_length, "fragments": result.fragments,
            "strides": args.strides, "reverse_complement": args.rc, "regions": args.regions,
            "convention": "row r covers the span centred on BED region r (pad_or_crop); "
                          "bin j = [w + j*step, w + (j+1)*step)",
        }, outputs)
        if args.tracks is None and len(stored) > MAX_DEFAULT_TRACK_FILES:
            print(f"note: {len(stored)} tracks stored in {args.output}; pass --tracks to also write bedGraph/bigWig "
                  "files", file=sys.stderr)
            files = []
        else:
            prefix = args.prefix or (args.output[:-4] if args.output.endswith(".npy") else args.output)
            array = np.load(array_path, mmap_mode="r")
            starts = [signal_output.resize_interval(r.start, r.end, result.span)[0] for r in records]
            failed = set(result.failed_rows)  # NaN rows; their chromosome may not even exist
            chroms = [None if i in failed else r.chrom for i, r in enumerate(records)]
            files = signal_output.write_signal(chroms, starts, array,
                                               signal_output.track_columns(None, stored, len(stored)),
                                               prefix, step, reference.chrom_sizes, bedgraph=True, bigwig=True,
                                               outputs=outputs)
            del array  # the memory map must be closed before the rename
    for label, reason in result.failed:
        print(f"warning: region {label} not predicted (left NaN): {reason}", file=sys.stderr)
    print(f"{result.n_ok}/{result.n_regions} regions predicted ({result.fragments} fragment(s) x {args.strides} "
          f"stride(s){' x 2 strands' if args.rc else ''}) with {predictor.source} -> {args.output} "
          f"{list(result.shape)}" + (f", {len(files)} track files" if files else ""))
    return 0
