"""``enformer-tfx predict-regions``: the original ``src.models.predict_array``, plus bedGraph/bigWig.

Each region of a BED file is tiled with ``--length`` windows at its own span, each window
predicted on ``--strides`` 1-bp shifts (and ``--rc``) and averaged; the array is written as
``.npy`` (``[regions, bins, tracks]``, float32, NaN-padded rows, NaN rows for regions that
failed) with a ``.npy.json`` sidecar, and each track as ``{prefix}.{identifier}.bedgraph`` and
``{prefix}.{identifier}.bw``. Conventions: :mod:`trainer.predict.regions`,
:mod:`components.signal_output`.
"""
from __future__ import annotations

import argparse
import os
import sys

from pipeline.commands.predict import MODEL_HELP, WINDOW_HELP, add_model_arguments, random_head_warning
from trainer.settings import PRECISIONS

# Without --tracks every track goes into the .npy, but bedGraph/bigWig files are written only
# for heads this small (the mouse head alone would mean 1,643 pairs of files).
MAX_DEFAULT_TRACK_FILES = 32


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict-regions",
        help="predict BED regions (stride/strand ensembling) -> .npy + bedGraph + bigWig per track",
        description="Tile each BED region with --length windows (its own span; N past chromosome ends), "
                    "predict each window averaged over --strides 1-bp shifts (and --rc), write the .npy array "
                    "and one bedGraph/bigWig per track, named by track identifier.",
    )
    parser.add_argument("model", help=MODEL_HELP + "; with --head PATH (head checkpoint): the trunk")
    parser.add_argument("regions", help="BED file of target regions (0-based, half-open), or one region "
                                        "chrom:start-end (1-based inclusive, samtools style)")
    parser.add_argument("--head", default="mouse",
                        help="'human', 'mouse', 'finetune' (payload head; one value per fragment) or PATH to a "
                             "track head (checkpoint or exported track model) (default %(default)s)")
    parser.add_argument("--reference", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--length", type=int, help=WINDOW_HELP)
    parser.add_argument("--strides", type=int, default=10, help="1-bp shifts averaged per window (default %(default)s)")
    parser.add_argument("--fragments", type=int,
                        help="windows for every region, all bins kept (the original predict_array layout; "
                             "default: each region's own ceil(length of region / --length), bins over the region)")
    parser.add_argument("--rc", action="store_true", help="also average reverse-complement predictions")
    parser.add_argument("--tracks", type=int, nargs="+",
                        help="track indices to keep (default: all; bedGraph/bigWig for at most "
                             f"{MAX_DEFAULT_TRACK_FILES} tracks unless listed)")
    parser.add_argument("--track-table", metavar="TRACKS_TSV",
                        help="tracks.tsv of a track head: file names and track lines use its identifier and "
                             "description columns (default: the identifiers an exported track model records)")
    parser.add_argument("--batch", type=int, default=0,
                        help="forward windows per model call (default 0 = all windows of a region)")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="bfloat16: the trunk's matmuls and convolutions in bfloat16 (faster only where the "
                             "hardware has bfloat16 units; outputs stay float32; an export is rebuilt from its "
                             "weights) (default %(default)s)")
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


def read_regions(text: str):
    """BED records of ``text``: a BED file, or one ``chrom:start-end`` region (named by itself)."""
    from components import genome

    if os.path.exists(text) or not genome.REGION_PATTERN.match(text.strip()):
        return list(genome.read_bed(text))
    region = genome.parse_region(text)
    return [genome.BedRecord(region.chrom, region.start, region.end, text.strip(), 1)]


def name_tracks_from_table(predictor, output_name: str, table) -> dict:
    """With ``--track-table``: record its identifiers on ``predictor``; returns ``{track index: description}``."""
    from components.bigwig import read_track_table
    from components.errors import InputError
    from trainer.predict.predictor import TRACKS

    if not table:
        return {}
    if output_name != TRACKS:
        raise InputError("--track-table names the tracks of a track head (--head PATH), not of "
                         f"--head {output_name}")
    specs = sorted(read_track_table(table), key=lambda spec: spec.index)
    if [spec.index for spec in specs] != list(range(predictor.n_tracks[TRACKS])):
        raise InputError(f"{table}: lists track indices {[spec.index for spec in specs][:8]}, but the head predicts "
                         f"{predictor.n_tracks[TRACKS]} tracks (indices 0..{predictor.n_tracks[TRACKS] - 1})")
    predictor.track_ids[TRACKS] = [spec.identifier for spec in specs]
    return {spec.index: spec.description for spec in specs}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from components import genome, signal_output
    from components.errors import InputError
    from components.outputs import atomic_outputs
    from components.progress import progress_bar
    from trainer.predict import regions
    from trainer.predict.predictor import load_predictor

    if args.tracks is not None and len(set(args.tracks)) != len(args.tracks):
        raise InputError(f"--tracks lists a track twice: {args.tracks}")
    request, output_name, track_head = head_request(args.head, args.tracks)
    records = read_regions(args.regions)
    if not records:
        raise InputError(f"{args.regions}: no regions")
    with genome.ReferenceGenome(args.reference) as reference, atomic_outputs() as outputs:
        predictor = load_predictor(args.model, request, args.length, baseline=args.baseline, track_head=track_head,
                                   key_size=args.key_size, value_size=args.value_size, num_heads=args.num_heads,
                                   precision=args.precision)
        table_descriptions = name_tracks_from_table(predictor, output_name, args.track_table)
        warning = random_head_warning(predictor, output_name)
        if warning:
            print(warning, file=sys.stderr)
        array_path = outputs.reserve(args.output)  # every output is published together, or none
        with progress_bar(len(records), "predict-regions", unit="region") as bar:
            result = regions.predict_regions(predictor, reference, records, array_path, output_name,
                                             strides=args.strides, reverse_complement=args.rc,
                                             fragments=args.fragments, batch=args.batch,
                                             progress=lambda done, total: bar.update(done - bar.n))
        columns = predictor.outputs[output_name]
        stored = list(columns) if columns is not None else list(range(result.shape[2]))
        labels = predictor.track_labels(output_name)
        descriptions = [f"{table_descriptions.get(track) or label} predicted by {args.model} ({args.head} head, "
                        f"{args.strides} stride(s){', both strands' if args.rc else ''})"
                        for track, label in zip(stored, labels)]
        info = {
            "model": args.model, "head": args.head, "output": output_name, "tracks": stored, "labels": labels,
            "descriptions": descriptions, "step": result.step, "length": predictor.input_length,
            "layout": "tiles", "fixed_fragments": args.fragments, "strides": args.strides,
            "reverse_complement": args.rc, "precision": args.precision, "regions": args.regions,
            "convention": "row r = the bins overlapping BED region r of ceil(len / length) windows centred on it "
                          "(all bins of fixed_fragments windows when set), NaN-padded; see to-bedgraph",
        }
        signal_output.write_sidecar(args.output, info, outputs)
        if args.tracks is None and len(stored) > MAX_DEFAULT_TRACK_FILES:
            print(f"note: {len(stored)} tracks stored in {args.output}; pass --tracks to also write bedGraph/bigWig "
                  "files", file=sys.stderr)
            files = []
        else:
            prefix = args.prefix or (args.output[:-4] if args.output.endswith(".npy") else args.output)
            array = np.load(array_path, mmap_mode="r")
            failed = set(result.failed_rows)  # NaN rows; their chromosome may not even exist
            chroms = [None if i in failed else r.chrom for i, r in enumerate(records)]
            named, texts = signal_output.labelled_columns(
                signal_output.track_columns(None, stored, len(stored)), info)
            files = signal_output.write_signal(chroms, [t.row_start for t in result.tiles], array, named,
                                               prefix, result.step, reference.chrom_sizes, bedgraph=True,
                                               bigwig=True, outputs=outputs, descriptions=texts,
                                               row_limits=None if args.fragments else [(r.start, r.end) for r in records])
            del array  # the memory map must be closed before the rename
    for label, reason in result.failed:
        print(f"warning: region {label} not predicted (left NaN): {reason}", file=sys.stderr)
    print(f"{result.n_ok}/{result.n_regions} regions predicted ({result.windows} window(s) of {predictor.input_length} "
          f"bp x {args.strides} stride(s){' x 2 strands' if args.rc else ''}) with {predictor.source} -> "
          f"{args.output} {list(result.shape)}" + (f", {len(files)} track files" if files else ""))
    return 0
