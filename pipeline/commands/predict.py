"""``enformer-tfx predict``: the original ``src.models.predict`` on the dataset table.

Writes ``index name group fold offset activity predicted peaksum peak`` per (payload, offset),
then ``OUT.summary.tsv`` (per-payload means over offsets) and ``OUT.correlation.tsv`` (Pearson r
and Spearman rho of those means vs measured activity, all payloads and per fold), and prints
the correlations. Conventions: :mod:`trainer.predict.payloads`.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from typing import Optional

from components.records import DEFAULT_WINDOW_LENGTH
from trainer.settings import PREDICT_PEAK_TRACK

# The --length/--window fallback of the prediction commands (the Predictor's default window).
WINDOW_HELP = f"window bp (default: the model's fixed length, else {DEFAULT_WINDOW_LENGTH})"
MODEL_HELP = ("exported SavedModel / Pusher dir / Trainer model artifact (Format-Serving), checkpoint dir, "
              "'original' ($ENFORMERBASELINE), 'tensorhub[:handle-or-dir]', or 'random[:preset]' (tests)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by the prediction commands."""
    group = parser.add_argument_group("model definition (original checkpoints without <model>.json)")
    group.add_argument("--key-size", type=int, help="payload head key size (SingleHead64_64: 64)")
    group.add_argument("--value-size", type=int, help="payload head value size (64 or 128)")
    group.add_argument("--num-heads", type=int, help="payload head attention heads (1 or 4)")
    parser.add_argument("--baseline", help="trunk/species heads for checkpoints lacking them (track heads, "
                                           "training checkpoints); default $ENFORMERBASELINE")


def random_head_warning(predictor, output_name: str) -> Optional[str]:
    """One-line warning when ``output_name`` is a species head of a randomly initialised baseline."""
    from trainer.predict.predictor import SPECIES_HEADS

    if output_name in SPECIES_HEADS and output_name in predictor.outputs and predictor.random_species_heads:
        return (f"warning: the {output_name!r} head of {predictor.source} comes from a random baseline (never "
                "trained): its values are meaningless")
    return None


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict payload activity and species-head peaks over sampled windows of each construct",
        description="For each payload of a make-dataset table, predict a seeded sample of window offsets "
                    "(payload head -> 'predicted'; max of --head/--track over each annotated site -> 'peak', "
                    "their sum -> 'peaksum') and summarise per payload with Pearson r / Spearman rho.",
    )
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("dataset", help="dataset table TSV written by make-dataset, or a payload Examples "
                                        "artifact directory of the pipeline (it keeps the table as dataset.tsv)")
    add_model_arguments(parser)
    parser.add_argument("--head", default=PREDICT_PEAK_TRACK[0], help="species head for peaks (default %(default)s)")
    parser.add_argument("--track", type=int, default=PREDICT_PEAK_TRACK[1],
                        help="track of --head (default %(default)s: mouse DNase ES cells)")
    parser.add_argument("--sample", default="0.4",
                        help="offsets per payload: ratio (<1) or count (>=1) (default %(default)s)")
    parser.add_argument("--stride", type=int, default=16, help="spacing of candidate offsets in bp (default %(default)s)")
    parser.add_argument("--seed", type=int, default=5, help="offset sampling seed (default %(default)s)")
    parser.add_argument("--rc", action="store_true", help="average forward and reverse-complement predictions")
    parser.add_argument("--batch", type=int, default=4,
                        help="offsets per model call (x2 windows with --rc) (default %(default)s)")
    parser.add_argument("--length", type=int,
                        help=WINDOW_HELP)
    parser.add_argument("--output", required=True, help="output TSV ('-' for stdout; then no summary files)")
    parser.set_defaults(func=run)


def output_stem(path: str) -> str:
    return path[:-4] if path.endswith(".tsv") else path


def run(args: argparse.Namespace) -> int:
    from components.errors import InputError
    from components.outputs import atomic_outputs
    from components.progress import progress_bar
    from trainer.predict import payloads
    from trainer.predict.predictor import ACTIVITY, load_predictor

    sample = payloads.parse_sample(args.sample)
    if args.batch < 1:
        raise InputError(f"--batch must be >= 1, got {args.batch}")
    rows = payloads.read_dataset_table(payloads.dataset_table_path(args.dataset))
    first = next(rows, None)  # validate the table before loading a large model
    if first is None:
        raise InputError(f"{args.dataset}: the table has no payloads")
    predictor = load_predictor(args.model, {ACTIVITY: None, args.head: [args.track]}, args.length,
                               baseline=args.baseline, key_size=args.key_size, value_size=args.value_size,
                               num_heads=args.num_heads, strict=False)
    species = sorted(name for name in predictor.n_tracks if name != ACTIVITY)
    if args.head in predictor.missing and species:
        raise InputError(f"unknown head {args.head!r}: {predictor.source} has {', '.join(species)}")
    if not predictor.outputs:
        raise InputError(f"model {args.model} has neither a payload head nor a {args.head!r} head")
    for name in predictor.missing:
        print(f"warning: {predictor.source} has no {name!r} output: its columns are written as nan", file=sys.stderr)
    warning = random_head_warning(predictor, args.head)
    if warning:
        print(warning + " (peak, peaksum)", file=sys.stderr)

    def all_rows(bar):
        for row in itertools.chain([first], rows):
            yield row
            bar.update(1)  # the previous payload's windows are written when the next one is asked for

    with atomic_outputs() as outputs:  # the three files are published together, or none
        handle = sys.stdout if args.output == "-" else open(outputs.reserve(args.output), "w", encoding="utf-8")
        bar = progress_bar(None, "predict", unit="payload")  # closed (its line ended) before any error line
        try:
            summaries = payloads.predict_payloads(
                predictor, all_rows(bar), handle.write, head=args.head if args.head in predictor.outputs else None,
                track=args.track, stride=args.stride, sample=sample, seed=args.seed,
                reverse_complement=args.rc, batch=args.batch)
        finally:
            bar.close()
            if handle is not sys.stdout:
                outputs.current = args.output
                handle.close()
        stats = payloads.correlations(summaries)
        if args.output != "-":
            stem = output_stem(args.output)
            with open(outputs.reserve(f"{stem}.summary.tsv"), "w", encoding="utf-8") as out:
                out.writelines(payloads.summary_lines(summaries))
            with open(outputs.reserve(f"{stem}.correlation.tsv"), "w", encoding="utf-8") as out:
                out.write("fold\tmeasure\tn\tpearson_r\tspearman_rho\n")
                out.writelines(f"{s['fold']}\t{s['measure']}\t{s['n']}\t{s['pearson_r']:.6g}\t"
                               f"{s['spearman_rho']:.6g}\n" for s in stats)
    report = sys.stderr if args.output == "-" else sys.stdout
    print(f"{len(summaries)} payloads, {sum(s.offsets for s in summaries)} windows "
          f"({'forward + reverse complement' if args.rc else 'forward'}) with {predictor.source}", file=report)
    print("per-payload mean over offsets vs measured activity:", file=report)
    for s in stats:
        print(f"  {s['fold']:>8} {s['measure']:>9}: n={s['n']:<5} pearson r={s['pearson_r']:.4f}  "
              f"spearman rho={s['spearman_rho']:.4f}", file=report)
    if args.output != "-":
        print(f"-> {args.output}, {output_stem(args.output)}.summary.tsv, {output_stem(args.output)}.correlation.tsv",
              file=report)
    return 0
