"""``enformer-tfx correlate``: the original ``src/analyze/array_correlation_bw.py`` and ``array_correlation.py``.

Predicted binned signal (a ``predict-regions`` array, or predicted bigWigs) against measured
bigWig tracks, or one prediction array against another, over the windows of a BED's regions:
per-region and per-track Pearson r / Spearman rho (:mod:`components.region_correlation`).
"""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "correlate",
        help="per-region / per-track Pearson and Spearman of predicted vs measured (bigWig) binned signal",
        description="Bin measured bigWig tracks exactly as make-track-dataset does over the windows of a "
                    "predict-regions array (or of --span bp around each region for predicted bigWigs) and "
                    "correlate them with the predictions, or correlate two prediction arrays: PREFIX.regions.tsv, "
                    "PREFIX.tracks.tsv, PREFIX.summary.json, PREFIX.png.",
    )
    parser.add_argument("regions", help="BED of the regions (one per array row, as given to predict-regions)")
    parser.add_argument("predictions", nargs="?",
                        help="predict-regions array .npy [regions, bins, columns] (its .npy.json sidecar gives "
                             "the bin size and track ids)")
    parser.add_argument("--predicted-tracks", help="instead of an array: a track table (tracks.tsv format) of "
                                                   "predicted bigWigs, binned like the measured ones")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--measured", help="track table (tracks.tsv: index identifier file clip scale sum_stat "
                                           "description) of the measured bigWigs; row i is compared with the "
                                           "i-th prediction column")
    target.add_argument("--against", help="a second prediction array of the same shape (prediction vs prediction)")
    parser.add_argument("--columns", type=int, nargs="+",
                        help="array track ids (as in the sidecar) to compare, in the order of the --measured rows "
                             "(default: every column)")
    parser.add_argument("--width", type=int, help="bin size in bp (default: the array's step, else 128)")
    parser.add_argument("--span", type=int, help="with --predicted-tracks: window bp around each region "
                                                 "(default: the longest region rounded up to --width)")
    parser.add_argument("--no-plot", action="store_true", help="skip PREFIX.png")
    parser.add_argument("--output", required=True, help="output prefix")
    parser.set_defaults(func=run)


def _load_array(path: str, records, columns, what: str):
    import numpy as np

    from components import signal_output
    from components.errors import InputError

    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError) as error:
        raise InputError(f"{path}: not a NumPy array file ({error})") from None
    if array.ndim != 3:
        raise InputError(f"{path}: expected [regions, bins, columns], got shape {list(array.shape)}")
    if array.shape[0] != len(records):
        raise InputError(f"{path}: {array.shape[0]} rows but the BED has {len(records)} regions (one row per region)")
    sidecar = signal_output.read_sidecar(path)
    mapping = signal_output.track_columns(columns, sidecar.get("tracks"), array.shape[2])
    selected = np.asarray(array[:, :, list(mapping.values())], dtype=np.float32)
    names = [f"{sidecar.get('head', what)}:{track}" for track in mapping]
    return selected, names, sidecar.get("step")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from components import bigwig, genome, region_correlation as rc
    from components.errors import InputError
    from components.outputs import atomic_outputs

    if (args.predictions is None) == (args.predicted_tracks is None):
        raise InputError("give either a prediction array (PREDICTIONS) or --predicted-tracks, not both")
    if args.against and args.predicted_tracks:
        raise InputError("--against compares two prediction arrays; it needs PREDICTIONS, not --predicted-tracks")
    if args.columns is not None and args.predictions is None:
        raise InputError("--columns selects array columns; it needs PREDICTIONS")
    records = list(genome.read_bed(args.regions))
    if not records:
        raise InputError(f"{args.regions}: no regions")
    measured_specs = bigwig.read_track_table(args.measured) if args.measured else None
    if args.predictions is not None:
        predicted, predicted_names, step = _load_array(args.predictions, records, args.columns, "predicted")
        width = args.width or int(step or 128)
        if step is not None and width != int(step):
            raise InputError(f"--width {width} differs from the array's bin size {step} bp ({args.predictions}.json)")
        span = predicted.shape[1] * width
        if args.span is not None and args.span != span:
            raise InputError(f"--span {args.span}: the array's rows cover {span} bp")
    else:
        width = args.width or 128
        span = args.span or -(-max(r.end - r.start for r in records) // width) * width
        if span % width or span <= 0:
            raise InputError(f"--span {span} must be a positive multiple of --width {width}")
    starts = rc.region_windows(records, span)
    if args.predicted_tracks is not None:
        specs = bigwig.read_track_table(args.predicted_tracks)
        with bigwig.TrackReader(specs, width) as reader:
            predicted = rc.read_binned(reader, records, starts, span, range(len(records)), args.regions)
        predicted_names = [spec.identifier for spec in specs]
    if measured_specs is not None:
        if len(measured_specs) != predicted.shape[2]:
            raise InputError(f"{args.measured}: {len(measured_specs)} measured tracks but {predicted.shape[2]} "
                             "prediction columns; pass --columns to choose (and order) the compared columns")
        rows = np.flatnonzero(~np.isnan(predicted).all(axis=(1, 2)))
        with bigwig.TrackReader(measured_specs, width) as reader:
            measured = rc.read_binned(reader, records, starts, span, rows, args.regions)
        measured_names = [spec.identifier for spec in measured_specs]
    else:
        measured, measured_names, other_step = _load_array(args.against, records, args.columns, "against")
        if measured.shape != predicted.shape:
            raise InputError(f"{args.against}: shape {list(measured.shape)} differs from {args.predictions} "
                             f"{list(predicted.shape)}")
        if other_step is not None and int(other_step) != width:
            raise InputError(f"{args.against}: bin size {other_step} bp differs from {width} bp")
        measured_names = [f"{args.against}:{name}" for name in measured_names]
        predicted_names = [f"{args.predictions}:{name}" for name in predicted_names]
    result = rc.correlate(predicted, measured)
    skipped = len(records) - int(result.rows.size)
    if result.rows.size == 0:
        raise InputError(f"{args.predictions}: every row is NaN (no region was predicted)")
    track_rows = rc.track_rows(result, predicted_names, measured_names, predicted.shape[1])
    with atomic_outputs() as outputs:
        with open(outputs.reserve(f"{args.output}.regions.tsv"), "w") as handle:
            handle.writelines(rc.region_lines(records, starts, span, result, predicted_names, measured_names,
                                              predicted.shape[1]))
        with open(outputs.reserve(f"{args.output}.tracks.tsv"), "w") as handle:
            handle.writelines(rc.track_lines(track_rows))
        rc.write_summary(outputs.reserve(f"{args.output}.summary.json"), track_rows, skipped,
                         regions=args.regions, predictions=args.predictions or args.predicted_tracks,
                         measured=args.measured or args.against, width=width, span=span,
                         compared_regions=int(result.rows.size))
        if not args.no_plot:
            rc.plot(outputs.reserve(f"{args.output}.png"), predicted, measured, result, predicted_names,
                    measured_names)
    if skipped:
        print(f"warning: {skipped} region(s) without predictions (NaN rows) skipped")
    for row in track_rows:
        print(f"{row['predicted']} vs {row['measured']}: r = {row['pearson_r']:.4f}, rho = {row['spearman_rho']:.4f} "
              f"over {row['bins']} bins of {row['regions']} regions; per-region r median "
              f"{row['median_region_pearson_r']:.4f}")
    print(f"-> {args.output}.regions.tsv, {args.output}.tracks.tsv, {args.output}.summary.json"
          f"{'' if args.no_plot else f', {args.output}.png'}")
    return 0
