"""``enformer-tfx design``: propose the next assay batch from edits of parent payloads.

Candidates (:mod:`components.designer.candidates`) are spliced into the locus as
``make-dataset`` does, scored through the compiled predictor with strand and shift ensembling
(:mod:`components.designer.scoring`), and a batch is chosen by the acquisition rule
(:mod:`components.designer.acquisition`). Outputs: ``PREFIX.fa``, ``PREFIX.tsv``,
``PREFIX.annotation.bed``, ``PREFIX.activity.tsv`` (:mod:`components.designer.design`).
"""
from __future__ import annotations

import argparse
import logging
import time

from components.payload_example_gen import params
from pipeline.commands.predict import MODEL_HELP, WINDOW_HELP

LOG = logging.getLogger(__name__)


def register(subparsers) -> None:
    from components.designer.acquisition import ACQUISITIONS
    from components.designer.candidates import DEFAULT_EDIT_KINDS, EDIT_KINDS

    parser = subparsers.add_parser(
        "design",
        help="propose the next assay batch: edits of annotated elements, scored by the model",
        description="Delete, invert, duplicate, swap or dinucleotide-shuffle the annotated elements of parent "
                    "payloads, score every candidate construct with MODEL, and write the chosen batch as "
                    "PREFIX.fa, PREFIX.tsv, PREFIX.annotation.bed and PREFIX.activity.tsv (NA values to fill in).",
    )
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("--payloads", required=True, help="payload FASTA holding the parents")
    parser.add_argument("--annotation", required=True,
                        help="BED of sites in payload coordinates (payload start end label [score strand])")
    parser.add_argument("--reference", required=True, help="reference FASTA")
    parser.add_argument("--context", required=True, help="region replaced by payloads, chr:start-end (1-based)")
    parser.add_argument("--length", type=int, default=params.DEFAULT_CONSTRUCT_LENGTH,
                        help="construct length in bp, as make-dataset (default %(default)s)")
    parser.add_argument("--window", type=int,
                        help=f"model {WINDOW_HELP}")
    parser.add_argument("--parents", help="comma-separated parent names (default: every annotated payload)")
    parser.add_argument("--edits", default=",".join(DEFAULT_EDIT_KINDS),
                        help=f"edit kinds, comma-separated, from {','.join(EDIT_KINDS)} (default %(default)s; "
                             "mutate runs ISM on every parent: 3 model windows per element base)")
    parser.add_argument("--max-edits", type=int, default=2, help="edits per candidate, at most (default %(default)s)")
    parser.add_argument("--candidates", type=int, default=5000, help="candidates to score (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=40, help="proposals to write (default %(default)s)")
    parser.add_argument("--acquisition", choices=ACQUISITIONS, default="greedy",
                        help="greedy | ucb (mean + beta sd; needs an ensemble) | diverse (default %(default)s)")
    parser.add_argument("--beta", type=float, default=1.0, help="ucb exploration weight (default %(default)s)")
    parser.add_argument("--diversity", type=float, default=1.0,
                        help="diverse: penalty per shared edit, in utility standard deviations (default %(default)s)")
    parser.add_argument("--objective", default="max", help="max | min | target=X (default %(default)s)")
    parser.add_argument("--shifts", type=int, default=3,
                        help="window shifts averaged per candidate (1 = centred window) (default %(default)s)")
    parser.add_argument("--no-rc", dest="rc", action="store_false",
                        help="do not average with reverse-complement windows")
    parser.add_argument("--predict-batch", type=int, default=128,
                        help="windows per model call (default %(default)s)")
    parser.add_argument("--group", default="design", help="group written to PREFIX.activity.tsv (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="candidate sampling seed (default %(default)s)")
    parser.add_argument("--output", required=True, help="output prefix")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from components.designer import design, scoring
    from components.designer.candidates import parse_edits
    from components.errors import InputError
    from trainer.predict.predictor import ACTIVITY, load_predictor

    if args.predict_batch < 1:
        raise InputError(f"--predict-batch must be >= 1, got {args.predict_batch}")
    design.check_prefix(args.output)
    parents = tuple(name.strip() for name in args.parents.split(",") if name.strip()) if args.parents else None
    if args.parents is not None and not parents:
        raise InputError("--parents: give at least one name")
    edits = parse_edits(args.edits)
    options = design.DesignOptions(
        parents=parents, edits=edits, max_edits=args.max_edits, candidates=args.candidates,
        batch_size=args.batch_size, acquisition=args.acquisition, beta=args.beta, diversity=args.diversity,
        objective=args.objective, seed=args.seed, construct_length=args.length, shifts=args.shifts,
        reverse_complement=args.rc, group=args.group)
    options.validate()  # option errors before reading inputs or loading a model

    def load():
        predictor = load_predictor(args.model, {ACTIVITY: None, scoring.MEMBERS: None}, args.window, strict=False)
        if ACTIVITY not in predictor.outputs:
            raise InputError(f"model {args.model} has no payload activity head")
        if args.acquisition == "ucb" and scoring.MEMBERS not in predictor.outputs:
            raise InputError(f"--acquisition ucb needs an ensemble model (model.ensemble: K): {predictor.source} "
                             "returns no per-member predictions; use greedy or diverse")
        if predictor.input_length > args.length:
            raise InputError(f"the model takes {predictor.input_length} bp windows, longer than the --length "
                             f"{args.length} construct")
        return predictor

    # Only mutate needs the model before the candidates exist; otherwise input errors come first.
    predictor = load() if "mutate" in edits else None
    prepared = design.prepare(
        args.payloads, args.annotation, args.reference, args.context, options,
        score_fn=(lambda one_hot: predictor(one_hot)[ACTIVITY]) if predictor else None,
        window_length=predictor.input_length if predictor else None)
    LOG.info("%d candidates from %d parent(s)", len(prepared.candidates),
             len({c.parent for c in prepared.candidates}))
    predictor = predictor or load()
    ensemble = scoring.MEMBERS in predictor.outputs

    started = time.time()
    mean, sd = scoring.score_sequences(
        [c.sequence for c in prepared.candidates], predictor, prepared.left_flank, prepared.right_flank,
        args.length, predictor.input_length, args.shifts, args.rc, args.predict_batch)
    seconds = time.time() - started
    proposals = design.propose(prepared, mean, sd, options)
    paths = design.write_outputs(args.output, proposals, args.group)
    print(f"{len(prepared.candidates)} candidates scored in {seconds:.1f}s "
          f"({len(prepared.candidates) / max(seconds, 1e-9):.1f} candidates/s, {predictor.source}"
          f"{', ensemble sd' if ensemble else ''})")
    best = proposals[0]
    print(f"{len(proposals)} proposals ({args.acquisition}, objective {prepared.objective}); best {best.candidate.name} "
          f"predicted {best.predicted:.4g}")
    print("-> " + ", ".join(paths))
    return 0
