"""``enformer-tfx distance-assay``: the original ``src/assay/distance.py``.

A fixed site and a mobile element from the reference on dinucleotide-shuffled (or
``--dinuc-frequency`` Markov) backgrounds, the mobile element moved in ``--step-size`` steps;
the maximum of ``--head``/``--track`` over each element, averaged over ``--shuffles``
backgrounds. Geometry, file formats and outputs: :mod:`components.distance_assay`. Every window
of every pair goes through the compiled predictor ``--batch`` windows per call.
"""
from __future__ import annotations

import argparse

from pipeline.commands.predict import MODEL_HELP, WINDOW_HELP, add_model_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "distance-assay",
        help="signal at a fixed site and a mobile element moved across shuffled backgrounds",
        description="For each site pair of SITES (BEDPE: fixed site, mobile element), place both on --shuffles "
                    "dinucleotide-shuffled backgrounds (or --dinuc-frequency draws), move the mobile element in "
                    "--step-size steps and predict --head/--track at both: PREFIX.tsv, PREFIX.npz, PREFIX.png.",
    )
    parser.add_argument("model", help=MODEL_HELP + "; with --head PATH (head checkpoint): the trunk")
    parser.add_argument("sites", help="BEDPE: chrom1 start1 end1 chrom2 start2 end2 [name [score [strand1 strand2]]] "
                                      "(element 1 = fixed site, 2 = mobile element; 0-based half-open)")
    parser.add_argument("--reference", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--length", type=int, help=WINDOW_HELP)
    parser.add_argument("--step-size", type=int, default=128,
                        help="distance step in bp, centre to centre (default %(default)s)")
    parser.add_argument("--shuffles", type=int, default=10, help="backgrounds per site pair (default %(default)s)")
    parser.add_argument("--dinuc-frequency",
                        help="TSV 'dinucleotide<TAB>frequency' (AA..TT): draw backgrounds from these frequencies "
                             "instead of shuffling the reference window around the fixed site")
    parser.add_argument("--orientation", choices=("forward", "reverse", "both"), default="forward",
                        help="mobile element as read (after its strand), reverse-complemented, or both "
                             "(default %(default)s)")
    parser.add_argument("--head", default="mouse",
                        help="'human', 'mouse' or PATH to a track head (checkpoint or exported track model) "
                             "(default %(default)s)")
    parser.add_argument("--track", type=int, required=True, help="track of --head to read")
    parser.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")
    parser.add_argument("--batch", type=int, default=8, help="windows per model call (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="background seed (default %(default)s)")
    parser.add_argument("--no-plot", action="store_true", help="skip PREFIX.png")
    parser.add_argument("--output", required=True, help="output prefix: PREFIX.tsv, PREFIX.npz, PREFIX.png")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from tqdm import tqdm

    from components import dinucleotides, distance_assay, genome
    from components.errors import InputError
    from components.outputs import atomic_outputs
    from pipeline.commands.predict_regions import head_request
    from trainer.predict.predictor import load_predictor, predict_codes

    if args.head == "finetune":
        raise InputError("--head finetune gives one value per window; choose a binned head (human, mouse or a "
                         "track head) so the signal at each element can be read")
    for flag, value, least in (("--shuffles", args.shuffles, 1), ("--batch", args.batch, 1),
                               ("--step-size", args.step_size, 1)):
        if value < least:
            raise InputError(f"{flag} must be >= {least}, got {value}")
    pairs = distance_assay.read_site_pairs(args.sites)
    frequencies = (dinucleotides.read_dinucleotide_frequencies(args.dinuc_frequency)
                   if args.dinuc_frequency else None)
    orientations = distance_assay.ORIENTATIONS if args.orientation == "both" else (args.orientation,)
    request, output_name, track_head = head_request(args.head, [args.track])
    with genome.ReferenceGenome(args.reference) as reference:
        if args.length is not None:  # check the sites before a model is loaded
            distance_assay.check_pairs(pairs, reference, args.sites, args.length, frequencies is None)
        predictor = load_predictor(args.model, request, args.length, baseline=args.baseline, track_head=track_head,
                                   key_size=args.key_size, value_size=args.value_size, num_heads=args.num_heads)
        length = predictor.input_length
        distance_assay.check_pairs(pairs, reference, args.sites, length, frequencies is None)

        def score(codes):
            return predict_codes(predictor, codes, args.rc)[output_name][:, :, 0]

        bar = tqdm(total=None, unit="window", desc="distance assay", disable=None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            result = distance_assay.run_assay(pairs, reference, score, length=length, step=args.step_size,
                                              shuffles=args.shuffles, seed=args.seed, orientations=orientations,
                                              frequencies=frequencies, batch=args.batch, progress=progress)
        finally:
            bar.close()
    label = f"{args.head} track {args.track}"
    stem = args.output[:-4] if args.output.endswith(".tsv") else args.output
    with atomic_outputs() as outputs:
        with open(outputs.reserve(f"{stem}.tsv"), "w") as handle:
            handle.writelines(distance_assay.report_lines(result))
        distance_assay.save_arrays(outputs.reserve(f"{stem}.npz"), result, length=length, step_size=args.step_size,
                                   shuffles=args.shuffles, seed=args.seed, head=args.head, track=args.track,
                                   reverse_complement=args.rc,
                                   background="dinucleotide frequencies" if frequencies is not None
                                   else "dinucleotide shuffle of the reference")
        written = [f"{stem}.tsv", f"{stem}.npz"]
        if not args.no_plot:
            distance_assay.plot(outputs.reserve(f"{stem}.png"), result, label)
            written.append(f"{stem}.png")
    rate = result.windows / result.seconds if result.seconds > 0 else float("nan")
    logging.getLogger(__name__).info("%d windows in %.1f s (%.1f windows/s)", result.windows, result.seconds, rate)
    print(f"{len(pairs)} site pair(s) x {len(orientations)} orientation(s) x {args.shuffles} background(s): "
          f"{result.windows} windows of {length} bp ({rate:.1f}/s) with {predictor.source} -> {', '.join(written)}")
    return 0
