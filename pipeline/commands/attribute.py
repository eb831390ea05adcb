"""``enformer-tfx attribute``: which payload bases drive a prediction (ISM or gradient x input).

Each payload is spliced into ``--context`` of ``--reference`` exactly as ``make-dataset`` does,
the model window is centred on it, and every payload base inside the window is attributed.
Conventions and outputs: :mod:`components.interpret.report`; motif discovery:
:mod:`components.interpret.motifs`.
"""
from __future__ import annotations

import argparse
from typing import List, Optional

from pipeline.commands.predict import MODEL_HELP, WINDOW_HELP, add_model_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "attribute",
        help="per-base attribution (ISM / saliency) of payloads spliced into the locus; motif discovery",
        description="Splice each payload into the locus as make-dataset does, centre the model window on it and "
                    "attribute the payload activity (or one track over the payload) to every payload base: "
                    "PREFIX.bedgraph, PREFIX.npz, PREFIX.<payload>.png, and with --motifs MEME motifs.",
    )
    parser.add_argument("model", help=MODEL_HELP)
    parser.add_argument("--payloads", required=True, help="payload FASTA")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--names", help="comma-separated payload names (default: every payload of the FASTA)")
    chosen.add_argument("--table", help="take the payload names from a make-dataset table ('name' column) or an "
                                        "activity table ('MenDel.Name')")
    parser.add_argument("--fold", help="with --table (make-dataset table): only payloads of this fold, e.g. eval")
    parser.add_argument("--annotation", help="BED of sites in payload coordinates (shaded in the figures)")
    parser.add_argument("--reference", required=True, help="reference FASTA (indexed or indexable)")
    parser.add_argument("--context", required=True, help="region replaced by payloads, chr:start-end (1-based)")
    parser.add_argument("--length", type=int, help="construct length in bp (default: the window length)")
    parser.add_argument("--window", type=int, help=f"model {WINDOW_HELP}")
    parser.add_argument("--method", choices=("ism", "saliency"), default="ism",
                        help="ism: every base x 3 alternatives, batched; saliency: gradient x input (default %(default)s)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target", choices=("activity",), help="explain the payload head (the default)")
    target.add_argument("--head", help="explain a species head track instead (human / mouse), mean over the payload bins")
    parser.add_argument("--track", type=int, help="track of --head (required with --head)")
    parser.add_argument("--rc", action="store_true", help="score = mean of forward and reverse-complement predictions")
    parser.add_argument("--shifts", type=int, default=1,
                        help="average the attribution over this many windows shifted by 1 bp around the centred one "
                             "(offsets -(N-1)//2 .. N//2; costs N times one window; default %(default)s)")
    parser.add_argument("--batch", type=int, help="mutants per model call (default 128 with local ISM, else 8)")
    parser.add_argument("--ism-path", choices=("auto", "local", "windows"), default="auto",
                        help="local: recompute only each mutant's receptive field in the conv trunk (exact, fast; "
                             "needs a model rebuildable as Sonnet modules); windows: whole mutant windows through "
                             "the compiled predictor (any model); auto: local when possible (default)")
    parser.add_argument("--motifs", action="store_true", help="discover motifs from the attributions (MEME + logos)")
    motifs = parser.add_argument_group("motif discovery (--motifs)")
    motifs.add_argument("--seqlet-width", type=int, default=11, help="seqlet width in bp (default %(default)s)")
    motifs.add_argument("--seqlet-threshold", type=float, default=6.0,
                        help="seqlet cut-off: window score sums outside median -/+ T x MAD of all window sums "
                             "(signed; default %(default)s)")
    motifs.add_argument("--min-similarity", type=float, default=0.7,
                        help="join a cluster at this alignment similarity (0..1, default %(default)s)")
    motifs.add_argument("--min-seqlets", type=int, default=3, help="smallest cluster reported (default %(default)s)")
    parser.add_argument("--no-figures", action="store_true", help="skip the per-payload PNG figures")
    parser.add_argument("--output", required=True, help="output prefix (PREFIX.bedgraph, PREFIX.npz, ...)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def table_names(path: str, fold: Optional[str]) -> List[str]:
    """Payload names of a make-dataset table (``name``, optional ``fold`` filter) or activity table."""
    from components.genome import open_text
    from components.errors import InputError

    with open_text(path) as handle:
        header = handle.readline().rstrip("\n\r").split("\t")
        column = "name" if "name" in header else "MenDel.Name" if "MenDel.Name" in header else None
        if column is None:
            raise InputError(f"{path}: no 'name' (make-dataset table) or 'MenDel.Name' (activity table) column")
        if fold is not None and "fold" not in header:
            raise InputError(f"{path}: --fold needs a 'fold' column (a make-dataset table)")
        names: List[str] = []
        for number, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            fields = line.rstrip("\n\r").split("\t")
            if len(fields) < len(header):
                raise InputError(f"{path}:{number}: expected {len(header)} columns, got {len(fields)}")
            if fold is None or fold in fields[header.index("fold")].split(","):
                names.append(fields[header.index(column)])
    if not names:
        raise InputError(f"{path}: no payloads{f' in fold {fold!r}' if fold else ''}")
    return list(dict.fromkeys(names))


def run(args: argparse.Namespace) -> int:
    from components.errors import InputError
    from components.interpret import report
    from trainer.predict import local_ism
    from trainer.predict.predictor import ACTIVITY, load_predictor

    if args.batch is not None and args.batch < 1:
        raise InputError(f"--batch must be >= 1, got {args.batch}")
    if args.shifts < 1:
        raise InputError(f"--shifts must be >= 1, got {args.shifts}")
    if args.head is not None and args.track is None:
        raise InputError("--head needs --track (the track index to explain)")
    if args.track is not None and args.head is None:
        raise InputError("--track needs --head (the species head it belongs to)")
    if args.seqlet_width < 1 or args.min_seqlets < 1 or not 0 < args.min_similarity <= 1:
        raise InputError("--seqlet-width and --min-seqlets must be >= 1 and --min-similarity in (0, 1]")
    if args.fold is not None and args.table is None:
        raise InputError("--fold needs --table")
    names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    if args.table:
        names = table_names(args.table, args.fold)
    payloads = report.read_payloads(args.payloads, names, args.annotation)
    request = {ACTIVITY: None} if args.head is None else {args.head: [args.track]}
    predictor = load_predictor(args.model, request, args.window, baseline=args.baseline, key_size=args.key_size,
                               value_size=args.value_size, num_heads=args.num_heads,
                               prefer_modules=args.method == "ism" and args.ism_path != "windows")
    window = predictor.input_length
    mutant_scorers = None
    if args.method == "ism" and args.ism_path != "windows":
        modules = predictor.modules
        if modules is not None and local_ism.supports(modules[0]):
            mutant_scorers = local_ism.scorer_factory(*modules, window, predictor.outputs,
                                                      args.batch or local_ism.DEFAULT_BATCH, jit_compile=True)
        elif args.ism_path == "local":
            raise InputError(f"--ism-path local needs a float32 Sonnet model; {predictor.source} is served "
                             "through a SavedModel signature or TF Hub (use --ism-path windows)")
    batch = args.batch or (local_ism.DEFAULT_BATCH if mutant_scorers else 8)
    if args.method == "ism":
        path = ("local recomputation of each mutant's receptive field (Sonnet modules)" if mutant_scorers
                else "whole mutant windows through the compiled predictor")
        print(f"ISM path: {path}, {batch} mutants per call")
    construct_length = args.length or window
    if construct_length < window:
        raise InputError(f"--length {construct_length} is shorter than the {window} bp model window")
    target = (report.Target(ACTIVITY) if args.head is None
              else report.Target(args.head, 0, f"{args.head} track {args.track}"))

    def progress(number: int, result: report.PayloadAttribution) -> None:
        inside = result.window.last - result.window.first
        print(f"[{number}/{len(payloads)}] {result.name}: {inside}/{len(result.codes)} bp scored, "
              f"prediction {result.reference_score:.4g}, {result.seconds:.1f} s")

    results = report.attribute_payloads(predictor.function, window, payloads, args.reference, args.context,
                                        construct_length, target, args.method, args.rc, batch, progress,
                                        mutant_scorers, args.shifts)
    options = None
    if args.motifs:
        options = report.MotifOptions(width=args.seqlet_width, threshold=args.seqlet_threshold,
                                      min_similarity=args.min_similarity, min_seqlets=args.min_seqlets)
    paths = report.write_report(args.output, results, args.method, target, options, figures=not args.no_figures)
    print(f"{args.method} attribution of {target.label} for {len(results)} payload(s) with {predictor.source} "
          f"({'forward + reverse complement' if args.rc else 'forward'}"
          f"{f', {args.shifts} 1-bp shifts' if args.shifts > 1 else ''}) -> {', '.join(paths[:2])}"
          f"{f' (+{len(paths) - 2} files)' if len(paths) > 2 else ''}")
    return 0
