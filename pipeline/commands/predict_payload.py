"""``enformer-tfx predict-payload``: the original ``src.models.predict_payload`` (+ ``payload_to_bedgraph``).

Payloads are composed from genomic segments (``name<TAB>chrom:start-end[:fFASTA][:nLABEL][:d],...``,
:mod:`components.segments`), spliced into ``--context`` of ``--reference`` (N flanks without
``--context``) and predicted on ``--strides`` 1-bp shifts (and ``--rc``)
(:mod:`pipeline.composed`). Writes the tracks ``.npy`` ``[payloads, bins, tracks]`` with a
``.npy.json`` sidecar, a report TSV (max of every track over each labelled segment, payload
activity when the model has a payload head) and one bedGraph per track in payload coordinates.
"""
from __future__ import annotations

import argparse
import os

from pipeline.commands.predict import MODEL_HELP, WINDOW_HELP, add_model_arguments
from pipeline.commands.predict_regions import MAX_DEFAULT_TRACK_FILES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict-payload",
        help="predict payloads composed of genomic segments spliced into the locus; per-segment track maxima",
        description="Compose each payload from 'chrom:start-end[:fFASTA][:nLABEL][:d]' segments, splice it into "
                    "--context (N flanks without it), predict --strides 1-bp shifts (and --rc): .npy tracks, a "
                    "per-labelled-segment report and bedGraph tracks in payload coordinates.",
    )
    parser.add_argument("model", help=MODEL_HELP + "; with --head PATH (head checkpoint): the trunk")
    parser.add_argument("segments", help="TSV: name<TAB>segment,segment,... (see README)")
    parser.add_argument("--reference", help="FASTA of the segments and of the locus (indexed or indexable)")
    parser.add_argument("--context", help="region replaced by the payload, chr:start-end (1-based); "
                                          "default: N flanks")
    parser.add_argument("--head", default="mouse",
                        help="'human', 'mouse' or PATH to a track head (checkpoint or exported track model) "
                             "(default %(default)s)")
    parser.add_argument("--tracks", type=int, nargs="+", help="track indices (default: all tracks of --head)")
    parser.add_argument("--length", type=int, help=WINDOW_HELP)
    parser.add_argument("--strides", type=int, default=1, help="1-bp shifts averaged (default %(default)s)")
    parser.add_argument("--rc", action="store_true", help="also average reverse-complement predictions")
    parser.add_argument("--output", default="payloads.npy", help="tracks array (default %(default)s)")
    parser.add_argument("--report", help="report TSV (default: --output with .report.tsv)")
    parser.add_argument("--prefix", help="bedGraph prefix (default: --output without .npy)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from components import segments, signal_output
    from components.errors import InputError
    from components.payload_example_gen.constructs import locus_flanks
    from pipeline.commands.predict_regions import head_request
    from pipeline import composed
    from trainer.predict.predictor import ACTIVITY, load_predictor
    from trainer.predict.regions import stride_shifts

    stride_shifts(args.strides)  # validates --strides before anything is loaded
    if args.context and not args.reference:
        raise InputError("--context needs --reference")
    if args.head == "finetune":
        raise InputError("--head finetune: the payload activity is always reported when the model has a payload "
                         "head; choose a binned head (human, mouse or a track head)")
    if args.tracks is not None and len(set(args.tracks)) != len(args.tracks):
        raise InputError(f"--tracks lists a track twice: {args.tracks}")
    payloads = segments.compose_payloads(args.segments, args.reference)
    request, output_name, track_head = head_request(args.head, args.tracks)
    if track_head is None:
        request = {**request, ACTIVITY: None}
    predictor = load_predictor(args.model, request, args.length, baseline=args.baseline, track_head=track_head,
                               key_size=args.key_size, value_size=args.value_size, num_heads=args.num_heads,
                               strict=False)
    if output_name in predictor.missing:
        heads = sorted(name for name in predictor.n_tracks if name != ACTIVITY)
        raise InputError(f"unknown head {args.head!r}: {predictor.source} has {', '.join(heads) or 'no binned head'}")
    window = predictor.input_length
    left, right = locus_flanks(args.reference, args.context, {p.name: len(p.sequence) for p in payloads},
                               window + args.strides - 1)
    columns = predictor.outputs[output_name]
    names = composed.track_names(args.head if track_head is None else "tracks", columns,
                                 predictor.n_tracks[output_name])
    stem = args.output[:-4] if args.output.endswith(".npy") else args.output
    report_path = args.report or f"{stem}.report.tsv"
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    array = np.lib.format.open_memmap(f"{args.output}.tmp.npy", mode="w+", dtype=np.float32,
                                      shape=(len(payloads), predictor.bins, len(names)))
    lines = ["\t".join(["name", "label", "activity"] + names) + "\n"]
    offsets = []
    try:
        for index, payload in enumerate(payloads):
            prediction = composed.predict_composed(predictor, payload, left, right, output_name, args.strides,
                                                   args.rc)
            array[index] = prediction.tracks
            offsets.append(prediction.offset)
            for label, *values in composed.report_rows(payload, prediction):
                lines.append("\t".join([payload.name, label] + [f"{v:.6g}" for v in values]) + "\n")
            print(f"[{index + 1}/{len(payloads)}] {payload.name}: {len(payload.sequence)} bp, "
                  f"{len(payload.segments)} segment(s), activity {prediction.activity:.4g}")
        array.flush()
    except BaseException:
        del array
        os.remove(f"{args.output}.tmp.npy")  # nothing half-written
        raise
    del array
    os.replace(f"{args.output}.tmp.npy", args.output)
    with open(f"{report_path}.tmp", "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    os.replace(f"{report_path}.tmp", report_path)
    signal_output.write_sidecar(args.output, {
        "model": args.model, "head": args.head, "output": output_name, "tracks": names,
        "payloads": [p.name for p in payloads], "offsets": offsets, "step": window // predictor.bins,
        "length": window, "strides": args.strides, "reverse_complement": args.rc, "segments": args.segments,
        "convention": "row i = payload i; bin j covers payload bases [offsets[i] + j*step, offsets[i] + (j+1)*step)",
    })
    files = []
    if args.tracks is not None or len(names) <= MAX_DEFAULT_TRACK_FILES:
        prefix = args.prefix or stem
        stored = np.load(args.output, mmap_mode="r")
        tracks = {track: column for column, track in enumerate(columns or range(len(names)))}
        files = signal_output.write_signal([p.name for p in payloads], offsets, stored, tracks, prefix,
                                           window // predictor.bins, {p.name: len(p.sequence) for p in payloads})
    print(f"{len(payloads)} payload(s) x {args.strides} stride(s){' x 2 strands' if args.rc else ''} with "
          f"{predictor.source} -> {args.output}, {report_path}" + (f", {len(files)} bedGraph file(s)" if files else ""))
    return 0
