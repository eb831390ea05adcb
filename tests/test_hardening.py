"""Bad inputs and write faults, one table row each: exit code, the phrase of the one ``error:`` line,
and the paths that must (not) exist afterwards.

Every row runs ``pipeline.cli.main`` in-process on the session demo data (plus a tiny model and a
small dataset built once per module), after its ``corrupt`` step wrote the faulty input into the
row's own directory ``{w}``. Argument templates: ``{d}`` demo data, ``{w}`` the row's directory,
``{m}`` a tiny payload model artifact, ``{repo}`` the repository, ``{ds}``/``{tbl}`` a make-dataset examples dir and table
(constructs of CONSTRUCT bp), ``{ctx}`` the demo context, ``{bed}``/``{npy}`` regions and a
matching prediction array.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import pytest

L = 1280  # model window bp (10 bins)
CONSTRUCT = L + 128


# --------------------------------------------------------------------------- corruptions
Env = Dict[str, str]
Corrupt = Callable[[Env], None]


def gz(source: str, target: str) -> Corrupt:
    """gzip-compress ``source`` into ``target`` (templates)."""
    def apply(env: Env) -> None:
        with open(source.format(**env), "rb") as src, gzip.open(target.format(**env), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return apply


def write(target: str, content) -> Corrupt:
    """Write ``content`` (str, bytes, or a callable of env returning either) to ``target``."""
    def apply(env: Env) -> None:
        data = content(env) if callable(content) else content
        with open(target.format(**env), "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
    return apply


def edit(source: str, target: str, change: Callable[[str], str]) -> Corrupt:
    """``target`` = ``change(text of source)``."""
    def apply(env: Env) -> None:
        with open(source.format(**env)) as handle:
            text = handle.read()
        with open(target.format(**env), "w") as handle:
            handle.write(change(text))
    return apply


def replace_field(row: int, column: int, value: str) -> Callable[[str], str]:
    """A text change for :func:`edit`: field ``column`` of line ``row`` (0 = the header) becomes ``value``."""
    def change(text: str) -> str:
        lines = text.split("\n")
        fields = lines[row].split("\t")
        fields[column] = value
        lines[row] = "\t".join(fields)
        return "\n".join(lines)
    return change


def both(*steps: Corrupt) -> Corrupt:
    def apply(env: Env) -> None:
        for step in steps:
            step(env)
    return apply


def bgzip(source: str, target: str) -> Corrupt:
    """bgzip-compress (BGZF, Biopython's writer) ``source`` into ``target`` (templates)."""
    def apply(env: Env) -> None:
        from Bio import bgzf

        with open(source.format(**env), "rb") as src, bgzf.BgzfWriter(target.format(**env), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return apply


def truncated_gzip(source: str, target: str) -> Corrupt:
    def apply(env: Env) -> None:
        data = gzip.compress(open(source.format(**env), "rb").read())
        write(target, data[: len(data) // 2])(env)
    return apply


def invalid_base_line(fasta: str) -> Tuple[int, Callable[[str], str]]:
    """(1-based line, change) putting an 'X' on the third sequence line of the first record."""
    def change(text: str) -> str:
        lines = text.split("\n")
        lines[3] = lines[3][:4] + "X" + lines[3][5:]
        return "\n".join(lines)
    return 4, change


def first_line_spaced(text: str) -> str:
    head, _, rest = text.partition("\n")
    return head.replace("\t", " ") + "\n" + rest


def drop_column(name: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        rows = [line.split("\t") for line in text.splitlines()]
        index = rows[0].index(name)
        return "\n".join("\t".join(r[:index] + r[index + 1:]) for r in rows) + "\n"
    return change


def absolute_track_files(env: Env) -> str:
    """The demo track table with absolute bigWig paths (so a copy elsewhere still finds them)."""
    text = open(os.path.join(env["d"], "tracks.tsv")).read()
    return text.replace("tracks/", os.path.join(env["d"], "tracks") + "/")


# --------------------------------------------------------------------------- the table
MAKE_DATASET = ["make-dataset", "{d}/activity.tsv", "{d}/payloads.fa", "--annotation", "{d}/annotation.bed",
                "--reference", "{d}/reference.fa", "--context", "{ctx}", "--length", str(CONSTRUCT),
                "--window", str(L), "--folds", "train=1", "--output", "{w}/out/ds.tsv"]
TRACKS = ["make-track-dataset", "{d}/mappable.bed", "{d}/tracks.tsv", "--reference", "{d}/reference.fa",
          "--length", "1280", "--width", "128", "--size", "4", "--batches", "2", "--eval-chroms", "chrX",
          "--prefix", "{w}/sub/dir/tracks"]
PREDICT = ["predict", "{m}", "{tbl}", "--sample", "1", "--batch", "8", "--output", "{w}/pred.tsv"]
REGIONS = ["predict-regions", "{m}", "{bed}", "--head", "finetune", "--reference", "{d}/reference.fa",
           "--strides", "1", "--output", "{w}/r.npy"]
BEDGRAPH = ["to-bedgraph", "{bed}", "{npy}", "--prefix", "{w}/bg/t"]
TRAIN = ["train", "{w}/model", "{ds}", "--baseline", "random", "--preset", "tiny", "--length", str(L),
         "--epochs", "1", "--steps", "1", "--batch", "2"]
PREDICT_OUTPUTS = ("{w}/pred.tsv", "{w}/pred.summary.tsv", "{w}/pred.correlation.tsv")
REGION_OUTPUTS = ("{w}/r.npy", "{w}/r.npy.json", "{w}/r.activity.bedgraph", "{w}/r.activity.bw")
MAKE_DATASET_OUTPUTS = ("{w}/out",)
TRACK_OUTPUTS = ("{w}/sub",)


def swap(argv: List[str], old: str, new: str) -> List[str]:
    return [new if item == old else item for item in argv]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    argv: List[str]
    code: int
    phrase: str  # in the error line (code 2) or in stdout (code 0)
    corrupt: Optional[Corrupt] = None
    absent: Tuple[str, ...] = ()
    present: Tuple[str, ...] = ()


BAD_LINE, BAD_BASE = invalid_base_line("payloads.fa")

CASES = [
    # ---- make-dataset: compressed inputs, sequence and table errors, write faults
    Case("make-dataset gzip table, FASTA and BED",
         swap(swap(swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv.gz"), "{d}/payloads.fa", "{w}/p.fa.gz"),
              "{d}/annotation.bed", "{w}/ann.bed.gz"),
         0, "50 payloads", both(gz("{d}/activity.tsv", "{w}/a.tsv.gz"), gz("{d}/payloads.fa", "{w}/p.fa.gz"),
                                gz("{d}/annotation.bed", "{w}/ann.bed.gz")),
         present=("{w}/out/ds.tsv", "{w}/out/ds.examples/Split-train")),
    Case("make-dataset bgzip reference, payload FASTA, table and BED",
         swap(swap(swap(swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv.gz"), "{d}/payloads.fa", "{w}/p.fa.gz"),
                   "{d}/annotation.bed", "{w}/ann.bed.gz"), "{d}/reference.fa", "{w}/ref.fa.gz"),
         0, "50 payloads", both(bgzip("{d}/activity.tsv", "{w}/a.tsv.gz"), bgzip("{d}/payloads.fa", "{w}/p.fa.gz"),
                                bgzip("{d}/annotation.bed", "{w}/ann.bed.gz"),
                                bgzip("{d}/reference.fa", "{w}/ref.fa.gz")),
         present=("{w}/out/ds.tsv", "{w}/ref.fa.gz.fai", "{w}/ref.fa.gz.gzi")),
    Case("make-dataset plain-gzip reference", swap(MAKE_DATASET, "{d}/reference.fa", "{w}/ref.fa.gz"), 2,
         "bgzip", gz("{d}/reference.fa", "{w}/ref.fa.gz"), absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset empty payload FASTA", swap(MAKE_DATASET, "{d}/payloads.fa", "{w}/p.fa"), 2,
         "p.fa: no records", write("{w}/p.fa", ""), absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset invalid base: the line holding it", swap(MAKE_DATASET, "{d}/payloads.fa", "{w}/p.fa"), 2,
         f"p.fa:{BAD_LINE}: payload 'LCR_000' has 'X'", edit("{d}/payloads.fa", "{w}/p.fa", BAD_BASE),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset gzip FASTA invalid base", swap(MAKE_DATASET, "{d}/payloads.fa", "{w}/p.fa.gz"), 2,
         f"p.fa.gz:{BAD_LINE}:", both(edit("{d}/payloads.fa", "{w}/p.fa", BAD_BASE), gz("{w}/p.fa", "{w}/p.fa.gz")),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset FASTA without header", swap(MAKE_DATASET, "{d}/payloads.fa", "{w}/p.fa"), 2,
         "p.fa:1: sequence data before the first '>'", write("{w}/p.fa", "ACGT\n>a\nACGT\n"),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset space-separated activity table", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv"), 2,
         "a.tsv:1: the header is not TAB-separated", edit("{d}/activity.tsv", "{w}/a.tsv", first_line_spaced),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset activity table lacks a column", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv"), 2,
         "lacks column(s) foldchange", edit("{d}/activity.tsv", "{w}/a.tsv", drop_column("foldchange")),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset activity not a number", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv"), 2,
         "a.tsv:2: activity of 'LCR~000' is not a number",
         edit("{d}/activity.tsv", "{w}/a.tsv", replace_field(1, 3, "high")), absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset binary activity table", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv"), 2,
         "a.tsv: not UTF-8 text", write("{w}/a.tsv", b"MenDel.Name\tgroups\n\xff\xfe\x00junk\n"),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset truncated gzip table", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/a.tsv.gz"), 2,
         "a.tsv.gz: corrupt or truncated gzip", truncated_gzip("{d}/activity.tsv", "{w}/a.tsv.gz"),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset missing activity table", swap(MAKE_DATASET, "{d}/activity.tsv", "{w}/none.tsv"), 2,
         "none.tsv: file not found", absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset activity table is a directory", swap(MAKE_DATASET, "{d}/activity.tsv", "{d}/tracks"), 2,
         "tracks: is a directory", absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset annotation coordinates not integers", swap(MAKE_DATASET, "{d}/annotation.bed", "{w}/a.bed"),
         2, "a.bed:1: start/end must be integers", write("{w}/a.bed", "LCR_000\tx\t187\tsite\n"),
         absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset context on an unknown chromosome", swap(MAKE_DATASET, "{ctx}", "chrZ:1-100"), 2,
         "chrZ", absent=MAKE_DATASET_OUTPUTS),
    Case("make-dataset output under a file", swap(MAKE_DATASET, "{w}/out/ds.tsv", "{w}/file/ds.tsv"), 2,
         "file: cannot write: Not a directory", write("{w}/file", "x"), absent=("{w}/file/ds.examples",)),
    Case("make-dataset table onto a device", swap(MAKE_DATASET, "{w}/out/ds.tsv", "/dev/null"), 2,
         "/dev/null: not a regular file"),
    # ---- make-track-dataset
    Case("make-track-dataset gzip BED and track table",
         swap(swap(TRACKS, "{d}/mappable.bed", "{w}/m.bed.gz"), "{d}/tracks.tsv", "{w}/t.tsv.gz"), 0,
         "Split-train", both(gz("{d}/mappable.bed", "{w}/m.bed.gz"), write("{w}/t.tsv", absolute_track_files),
                             gz("{w}/t.tsv", "{w}/t.tsv.gz")),
         present=("{w}/sub/dir/tracks.bed", "{w}/sub/dir/tracks/Split-eval")),
    Case("make-track-dataset track table lacks columns", swap(TRACKS, "{d}/tracks.tsv", "{w}/t.tsv"), 2,
         "lacks column(s) clip", edit("{d}/tracks.tsv", "{w}/t.tsv", drop_column("clip")), absent=TRACK_OUTPUTS),
    Case("make-track-dataset missing bigWig", swap(TRACKS, "{d}/tracks.tsv", "{w}/t.tsv"), 2, "GONE.bw: file not found",
         edit("{d}/tracks.tsv", "{w}/t.tsv", lambda t: t.replace("DEMO00.bw", "GONE.bw")), absent=TRACK_OUTPUTS),
    Case("make-track-dataset empty mappable BED", swap(TRACKS, "{d}/mappable.bed", "{w}/m.bed"), 2,
         "m.bed: no intervals", write("{w}/m.bed", "# nothing\n"), absent=TRACK_OUTPUTS),
    Case("make-track-dataset missing reference", swap(TRACKS, "{d}/reference.fa", "{w}/none.fa"), 2,
         "none.fa: reference FASTA not found", absent=TRACK_OUTPUTS),
    Case("make-track-dataset bgzip reference", swap(TRACKS, "{d}/reference.fa", "{w}/ref.fa.gz"), 0,
         "Split-train", bgzip("{d}/reference.fa", "{w}/ref.fa.gz"), present=("{w}/sub/dir/tracks/Split-train",)),
    Case("make-track-dataset plain-gzip reference", swap(TRACKS, "{d}/reference.fa", "{w}/ref.fa.gz"), 2,
         "bgzip", gz("{d}/reference.fa", "{w}/ref.fa.gz"), absent=TRACK_OUTPUTS),
    Case("make-track-dataset every window below the cutoff", TRACKS + ["--cutoff", "1e9"], 2,
         "below the cutoff", absent=TRACK_OUTPUTS),
    Case("make-track-dataset prefix under a file", swap(TRACKS, "{w}/sub/dir/tracks", "{w}/file/tracks"), 2,
         "cannot write: Not a directory", write("{w}/file", "x")),
    # ---- predict
    Case("predict gzip dataset table", swap(PREDICT, "{tbl}", "{w}/t.tsv.gz"), 0, "pearson r",
         gz("{tbl}", "{w}/t.tsv.gz"), present=PREDICT_OUTPUTS),
    Case("predict into a missing directory", swap(PREDICT, "{w}/pred.tsv", "{w}/new/dir/pred.tsv"), 0,
         "pearson r", present=("{w}/new/dir/pred.tsv", "{w}/new/dir/pred.summary.tsv")),
    Case("predict output on a full disk", swap(PREDICT, "{w}/pred.tsv", "/dev/full"), 2,
         "/dev/full: cannot write: No space left on device", absent=("/dev/full.summary.tsv",)),
    Case("predict output under a file", swap(PREDICT, "{w}/pred.tsv", "{w}/file/pred.tsv"), 2,
         "cannot write: Not a directory", write("{w}/file", "x"), absent=PREDICT_OUTPUTS),
    Case("predict space-separated table", swap(PREDICT, "{tbl}", "{w}/t.tsv"), 2,
         "t.tsv:1: the header is not TAB-separated", edit("{tbl}", "{w}/t.tsv", first_line_spaced),
         absent=PREDICT_OUTPUTS),
    Case("predict table lacks a column", swap(PREDICT, "{tbl}", "{w}/t.tsv"), 2, "missing column(s) fold",
         edit("{tbl}", "{w}/t.tsv", drop_column("fold")), absent=PREDICT_OUTPUTS),
    Case("predict activity not a number", swap(PREDICT, "{tbl}", "{w}/t.tsv"), 2, "t.tsv:2: activity 'high'",
         edit("{tbl}", "{w}/t.tsv", replace_field(1, 4, "high")), absent=PREDICT_OUTPUTS),
    Case("predict missing table", swap(PREDICT, "{tbl}", "{w}/none.tsv"), 2, "none.tsv: file not found",
         absent=PREDICT_OUTPUTS),
    Case("predict empty table", swap(PREDICT, "{tbl}", "{w}/t.tsv"), 2, "the table has no payloads",
         edit("{tbl}", "{w}/t.tsv", lambda t: t.split("\n")[0] + "\n"), absent=PREDICT_OUTPUTS),
    # ---- predict-regions
    Case("predict-regions gzip BED", swap(REGIONS, "{bed}", "{w}/r.bed.gz"), 0, "regions predicted",
         gz("{bed}", "{w}/r.bed.gz"), present=("{w}/r.npy", "{w}/r.npy.json", "{w}/r.activity.bw")),
    Case("predict-regions bgzip reference", swap(REGIONS, "{d}/reference.fa", "{w}/ref.fa.gz"), 0,
         "regions predicted", bgzip("{d}/reference.fa", "{w}/ref.fa.gz"), present=("{w}/r.npy",)),
    Case("predict-regions plain-gzip reference", swap(REGIONS, "{d}/reference.fa", "{w}/ref.fa.gz"), 2, "bgzip",
         gz("{d}/reference.fa", "{w}/ref.fa.gz"), absent=REGION_OUTPUTS),
    Case("predict-regions track files under a file: no array either", REGIONS + ["--prefix", "{w}/file/t"], 2,
         "cannot write: Not a directory", write("{w}/file", "x"), absent=REGION_OUTPUTS),
    Case("predict-regions output under a file", swap(REGIONS, "{w}/r.npy", "{w}/file/r.npy"), 2,
         "cannot write: Not a directory", write("{w}/file", "x")),
    Case("predict-regions BED coordinates not integers", swap(REGIONS, "{bed}", "{w}/r.bed"), 2,
         "r.bed:1: start/end must be integers", write("{w}/r.bed", "chr3\tone\t2000\n"), absent=REGION_OUTPUTS),
    Case("predict-regions empty BED", swap(REGIONS, "{bed}", "{w}/r.bed"), 2, "r.bed: no regions",
         write("{w}/r.bed", "track name=x\n"), absent=REGION_OUTPUTS),
    # ---- to-bedgraph
    Case("to-bedgraph gzip BED and chrom sizes", swap(BEDGRAPH, "{bed}", "{w}/r.bed.gz")
         + ["--bigwig", "--chrom-sizes", "{w}/sizes.gz"], 0, "t.0.bw",
         both(gz("{bed}", "{w}/r.bed.gz"), gz("{d}/reference.fa.fai", "{w}/sizes.gz")),
         present=("{w}/bg/t.0.bedgraph", "{w}/bg/t.0.bw")),
    Case("to-bedgraph chromosome sizes from a bgzip reference", BEDGRAPH + ["--bigwig", "--reference",
         "{w}/ref.fa.gz"], 0, "t.0.bw", bgzip("{d}/reference.fa", "{w}/ref.fa.gz"), present=("{w}/bg/t.0.bw",)),
    Case("to-bedgraph plain-gzip reference", BEDGRAPH + ["--bigwig", "--reference", "{w}/ref.fa.gz"], 2,
         "plain gzip reference FASTA", gz("{d}/reference.fa", "{w}/ref.fa.gz"), absent=("{w}/bg",)),
    Case("attribute gzip table, bgzip payloads and reference",
         ["attribute", "{m}", "--payloads", "{w}/p.fa.gz", "--table", "{w}/t.tsv.gz",
          "--reference", "{w}/ref.fa.gz", "--context", "{ctx}", "--length", str(CONSTRUCT), "--window", str(L),
          "--method", "saliency", "--no-figures", "--output", "{w}/att/x"], 0, "saliency attribution",
         both(edit("{tbl}", "{w}/t.tsv", lambda t: "\n".join(t.split("\n")[:2]) + "\n"), gz("{w}/t.tsv", "{w}/t.tsv.gz"),
              bgzip("{d}/payloads.fa", "{w}/p.fa.gz"),
              bgzip("{d}/reference.fa", "{w}/ref.fa.gz")), present=("{w}/att/x.npz",)),
    Case("to-bedgraph prefix under a file", swap(BEDGRAPH, "{w}/bg/t", "{w}/file/t") + ["--bigwig", "--reference",
         "{d}/reference.fa"], 2, "cannot write: Not a directory", write("{w}/file", "x")),
    Case("to-bedgraph bigWig without sizes: no bedGraph either", BEDGRAPH + ["--bigwig"], 2,
         "pass --reference FA or --chrom-sizes FILE", absent=("{w}/bg",)),
    Case("to-bedgraph unknown chromosome for bigWig", BEDGRAPH + ["--bigwig", "--chrom-sizes", "{w}/sizes"], 2,
         "missing from the chromosome sizes", write("{w}/sizes", "chrZ\t1000\n"), absent=("{w}/bg",)),
    Case("to-bedgraph not an array", swap(BEDGRAPH, "{npy}", "{w}/a.npy"), 2, "not a .npy array",
         write("{w}/a.npy", "text"), absent=("{w}/bg",)),
    Case("to-bedgraph array rows do not match", swap(BEDGRAPH, "{bed}", "{w}/r.bed"), 2, "rows but",
         write("{w}/r.bed", "chr3\t10\t100\n"), absent=("{w}/bg",)),
    Case("to-bedgraph chrom sizes malformed", BEDGRAPH + ["--bigwig", "--chrom-sizes", "{w}/sizes"], 2,
         "sizes:1: expected 'chrom<TAB>size'", write("{w}/sizes", "chr3 long\n"), absent=("{w}/bg",)),
    # ---- train
    Case("train window longer than the constructs", swap(TRAIN, str(L), str(CONSTRUCT + 128)), 2,
         f"constructs are {CONSTRUCT} bp, shorter than the model window ({CONSTRUCT + 128} bp)",
         absent=("{w}/model",)),
    Case("train dataset without Split-train", swap(TRAIN, "{ds}", "{w}"), 2, "no Split-train/ directory",
         absent=("{w}/model",)),
    Case("train empty Split-train", swap(TRAIN, "{ds}", "{w}/ds"), 2, "error: no TFRecord files match",
         lambda env: [os.makedirs(f"{env['w']}/ds/Split-{s}") for s in ("train", "eval")], absent=("{w}/model",)),
    Case("train model directory under a file", swap(TRAIN, "{w}/model", "{w}/file/model"), 2,
         "cannot write: Not a directory", write("{w}/file", "x")),
    # ---- demo-data
    Case("demo-data failing halfway: nothing written", ["demo-data", "{w}/demo", "--scale", "0.05"], 2,
         "{w}/demo/tracks: cannot write: Not a directory",
         lambda env: [os.makedirs(f"{env['w']}/demo"), write("{w}/demo/tracks", "x")(env)],
         absent=("{w}/demo/reference.fa", "{w}/demo/reference.fa.fai", "{w}/demo/payloads.fa", "{w}/demo/manifest.json")),
    # ---- config-schema, run
    Case("config-schema output under a file", ["config-schema", "--output", "{w}/file/s.json"], 2,
         "cannot write: Not a directory", write("{w}/file", "x")),
    Case("config-schema into a missing directory", ["config-schema", "--output", "{w}/new/s.json"], 0,
         "wrote", present=("{w}/new/s.json",)),
    Case("run with a missing config", ["run", "--config", "{w}/none.yaml"], 2, "none.yaml"),
    Case("run with pipeline_root under a file", ["run", "--config", "{repo}/pipeline/configs/demo.yaml", "--set",
                                                  "pipeline_root={w}/file/root"], 2,
         "{w}/file: cannot write: Not a directory", write("{w}/file", "x")),
    Case("run with metadata under a file: no pipeline_root either", [
        "run", "--config", "{repo}/pipeline/configs/demo.yaml", "--set", "pipeline_root={w}/root",
        "--set", "metadata_path={w}/file/m.sqlite"], 2, "{w}/file: cannot write", write("{w}/file", "x"),
         absent=("{w}/root",)),
]


# --------------------------------------------------------------------------- running a row
def build_env(root: str, demo_data: str, context: str, model_artifact: str) -> Env:
    """Template values shared by every row: demo data, a tiny model (``model_artifact``: its
    Format-Serving directory has weights, window ``L``), a small dataset, regions + array."""
    from pipeline.cli import main

    table = os.path.join(root, "dataset.tsv")
    assert main(["make-dataset", os.path.join(demo_data, "activity.tsv"), os.path.join(demo_data, "payloads.fa"),
                 "--annotation", os.path.join(demo_data, "annotation.bed"),
                 "--reference", os.path.join(demo_data, "reference.fa"), "--context", context,
                 "--length", str(CONSTRUCT), "--window", str(L), "--folds", "train=4", "eval=1",
                 "--output", table]) == 0
    bed = os.path.join(root, "regions.bed")
    with open(bed, "w") as handle:
        handle.write("chr3\t2000\t3000\ta\nchr3\t2500\t4000\tb\nchr19\t100\t900\tc\n")
    array = os.path.join(root, "array.npy")
    np.save(array, np.arange(3 * 10 * 2, dtype=np.float32).reshape(3, 10, 2))
    return {"repo": os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "d": demo_data, "ctx": context,
            "m": model_artifact, "tbl": table, "ds": table[:-4] + ".examples", "bed": bed, "npy": array}


def run_case(case: Case, env: Env, workdir: str) -> Tuple[Env, int, str, str]:
    """Corrupt, run ``pipeline.cli.main`` in-process; ``(values, exit code, stdout, stderr)``."""
    import contextlib
    import io

    from pipeline.cli import main

    values = dict(env, w=workdir)
    if case.corrupt is not None:
        case.corrupt(values)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([item.format(**values) for item in case.argv])
    return values, code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def env(demo_data, demo_manifest, tiny_payload_model, tmp_path_factory) -> Env:
    return build_env(str(tmp_path_factory.mktemp("hardening")), demo_data, demo_manifest["context"],
                     tiny_payload_model["artifact"])


def test_outputs_are_published_together_or_not_at_all(tmp_path):
    from components.errors import OutputError
    from components.outputs import atomic_outputs

    kept = tmp_path / "b.txt"
    kept.write_text("earlier run")
    with pytest.raises(ZeroDivisionError):  # a bug in the writer: no file published, no directory left
        with atomic_outputs() as outputs:
            for name in ("new/dir/a.txt", "b.txt"):
                with open(outputs.reserve(str(tmp_path / name)), "w") as handle:
                    handle.write("partial")
            1 / 0
    assert sorted(os.listdir(tmp_path)) == ["b.txt"] and kept.read_text() == "earlier run"
    with pytest.raises(OutputError, match="/dev/full: cannot write: No space left on device"):
        with atomic_outputs() as outputs, open(outputs.reserve("/dev/full"), "w") as handle:
            handle.write("x" * 10)
    with atomic_outputs() as outputs:
        for name in ("new/dir/a.txt", "b.txt"):
            with open(outputs.reserve(str(tmp_path / name)), "w") as handle:
                handle.write("done")
    assert (tmp_path / "new/dir/a.txt").read_text() == "done" and kept.read_text() == "done"
    assert not [name for name in _walk(str(tmp_path)) if ".partial-" in name]


def test_table_is_large_and_names_are_unique():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case: Case, env: Env, tmp_path):
    values, code, out, err = run_case(case, env, str(tmp_path))
    assert code == case.code, f"{case.argv}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if case.code == 2:
        assert len(errors) == 1, err
        assert case.phrase.format(**values) in errors[0], errors[0]
    else:
        assert not errors and case.phrase in out, out
    for path in case.absent:
        assert not os.path.exists(path.format(**values)), f"{path.format(**values)} left behind"
    for path in case.present:
        assert os.path.exists(path.format(**values)), f"{path.format(**values)} missing"
    leftovers = [name for name in _walk(str(tmp_path)) if ".partial-" in name]
    assert not leftovers, leftovers


def _walk(root: str) -> List[str]:
    return [os.path.join(d, f) for d, dirs, files in os.walk(root) for f in files + dirs]


if __name__ == "__main__":  # python -m tests.test_hardening OUTDIR: the full campaign (tests/hardening_campaign.py)
    import sys

    from tests.hardening_campaign import main as campaign

    sys.exit(campaign(sys.argv[1]))


def test_cached_evaluation_is_reported_as_cached(tmp_path, capsys):
    """A rerun whose evaluation is a cache hit says so before reprinting it (real SQLite ML Metadata)."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb
    from tfx.orchestration import metadata

    from pipeline.config import load_config
    from pipeline.report import print_run_summary, served_from_cache

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = load_config(os.path.join(repo, "pipeline", "configs", "demo.yaml"),
                         [f"pipeline_root={tmp_path}/root", f"metadata_path={tmp_path}/m.sqlite"])
    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(config.metadata_path))
    type_id = store.put_artifact_type(pb.ArtifactType(name="ModelEvaluation"))
    os.makedirs(tmp_path / "evaluation")
    with open(tmp_path / "evaluation" / "summary.json", "w") as handle:
        handle.write('{"pearson_r": 0.5, "spearman_rho": 0.4, "mse": 1.0, "blessed": true, "n": 3}')
    [artifact_id] = store.put_artifacts([pb.Artifact(type_id=type_id, uri=str(tmp_path / "evaluation"))])
    execution_type = store.put_execution_type(pb.ExecutionType(name="PayloadEvaluator"))

    def produced(state) -> None:
        [execution_id] = store.put_executions([pb.Execution(type_id=execution_type, last_known_state=state)])
        store.put_events([pb.Event(artifact_id=artifact_id, execution_id=execution_id, type=pb.Event.OUTPUT)])

    produced(pb.Execution.COMPLETE)
    [artifact] = store.get_artifacts_by_id([artifact_id])
    assert not served_from_cache(config, artifact)
    produced(pb.Execution.CACHED)
    assert served_from_cache(config, artifact)
    assert print_run_summary(config) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "cached from an earlier run" in lines[0] and "Pearson r=0.500" in lines[1]


# --------------------------------------------------------------------------- interrupted runs
def _store(path: str):
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))


def test_interrupted_executions_are_marked_failed_and_orphans_removed(tmp_path):
    """Executions a killed run left RUNNING/NEW become FAILED and their unpublished folders go;
    finished executions, published artifacts and other nodes' folders are untouched (real MLMD)."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline.recovery import close_interrupted_executions

    path, root = str(tmp_path / "m.sqlite"), tmp_path / "root"
    assert close_interrupted_executions(path, str(root)) == []  # no store yet: nothing to do, nothing created
    assert not os.path.exists(path)
    store = _store(path)
    type_id = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    ids = store.put_executions([pb.Execution(type_id=type_id, last_known_state=state)
                                for state in (pb.Execution.COMPLETE, pb.Execution.RUNNING, pb.Execution.CACHED,
                                              pb.Execution.NEW)])
    node_type = store.put_context_type(pb.ContextType(name="node"))
    [node] = store.put_contexts([pb.Context(type_id=node_type, name="p.Trainer")])
    store.put_attributions_and_associations([], [pb.Association(context_id=node, execution_id=i) for i in ids])
    folders = {name: root / "Trainer" / name for name in (
        f"model/{ids[0]}", f"model/{ids[1]}", f"model_run/{ids[1]}", f".system/executor_execution/{ids[1]}",
        ".system/stateful_working_dir/3f2a", f"model/{ids[3]}", f"model_run/{ids[3]}")}
    for folder in folders.values():
        os.makedirs(folder / "sub")
    os.makedirs(root / "Evaluator" / "evaluation" / str(ids[1]))  # another node's: not this execution's
    artifact_type = store.put_artifact_type(pb.ArtifactType(name="Model"))
    store.put_artifacts([pb.Artifact(type_id=artifact_type, uri=str(folders[f"model_run/{ids[3]}"] / "sub"),
                                     state=pb.Artifact.LIVE)])  # registered: never removed

    closed = close_interrupted_executions(path, str(root))
    assert [(item.execution_id, item.node) for item in closed] == [(ids[1], "Trainer"), (ids[3], "Trainer")]
    assert sorted(closed[0].removed) == sorted(str(folders[name]) for name in (
        f"model/{ids[1]}", f"model_run/{ids[1]}", f".system/executor_execution/{ids[1]}",
        ".system/stateful_working_dir/3f2a"))
    assert list(closed[1].removed) == [str(folders[f"model/{ids[3]}"])]
    left = {name for name, folder in folders.items() if folder.exists()}
    assert left == {f"model/{ids[0]}", f"model_run/{ids[3]}"}
    assert (root / "Evaluator" / "evaluation" / str(ids[1])).exists()
    states = {e.id: e.last_known_state for e in store.get_executions_by_id(ids)}
    assert states == {ids[0]: pb.Execution.COMPLETE, ids[1]: pb.Execution.FAILED, ids[2]: pb.Execution.CACHED,
                      ids[3]: pb.Execution.FAILED}
    assert close_interrupted_executions(path, str(root)) == []


PIPELINE_NODES = ("PayloadExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                  "latest_blessed_model_resolver", "Trainer", "Evaluator", "Pusher", "Interpreter")


@pytest.mark.slow
def test_killed_run_resumes_its_trainer_after_the_saved_epoch(payload_loop, capsys):
    """Run 3 of the shared loop: ``enformer-tfx run`` in a subprocess, its process group killed
    (SIGKILL, by pid) once the Trainer saved an epoch checkpoint; the rerun, a fresh ``enformer-tfx
    run`` process too, closes the dead execution, removes its orphan folders (and says so) and
    resumes the Trainer after the saved epoch (see tests.test_pipeline.run_payload_loop).

    Both processes' consoles are what a user sees at default verbosity: short (the demo's budget
    is 60 lines; 30 here), one line per node, nothing from the libraries (the killed run ran the
    data components, the rerun the Trainer, Evaluator and Pusher), and the full log file named.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb

    from pipeline import node_status
    from pipeline.report import latest_artifact
    from tests.console_run import check_short_quiet_console, node_lines
    from trainer.run import RESUME_SUBDIR
    from trainer.training import read_training_log

    run = payload_loop[2]
    config, killed = run.config, run.killed
    epochs = config.training.epochs
    assert 1 <= len(killed.epochs_before) < epochs, "killed after training had finished"
    assert killed.execution_type.endswith("Trainer")
    killed_nodes = node_lines(check_short_quiet_console(killed.output))
    # The Trainer's inputs were ready: span 2 is new, so its examples were made; the schema import.
    assert killed_nodes["PayloadExampleGen"] == "ran" and "ImportSchemaGen" in killed_nodes, killed.output
    assert "Trainer" not in killed_nodes, killed.output

    lines = check_short_quiet_console(run.console, budget=40)  # + the recovery warning and the history rows
    assert sorted(node_lines(lines)) == sorted(PIPELINE_NODES), lines
    # The summary ends with the loop's history (runs 1 and 2, the killed round, failed, and this
    # one), then the commands.
    history = lines.index("rounds so far (4; `enformer-tfx history` shows them again):")
    assert lines[history + 1].split()[:3] == ["run", "spans", "model"], lines
    assert lines[history + 4].split()[-1] == "failed" and lines[history + 5].split()[-1] == "no", lines
    assert lines[history + 6].startswith("attribution report (saliency of held-out"), lines
    if run.summary["blessed"]:  # pushed: the commands to use the new model follow
        assert lines[history + 7].startswith(("why it predicts", "predict with")), lines
    assert node_lines(lines)["Trainer"] == "ran" and node_lines(lines)["PayloadExampleGen"] == "cached", lines
    # LocalDagRunner has no per-node hook: its report reads the store afterwards (read-only), to the same states.
    node_status.print_local_run(config.metadata_path, config.pipeline_name, list(PIPELINE_NODES), 0.0)
    assert node_lines(capsys.readouterr().out.splitlines()) == node_lines(lines)
    assert any(line.startswith("Pusher") for line in lines), lines
    assert any(line.startswith("training:") or "training: 100%" in line for line in lines), lines
    assert any(f"execution {killed.execution_id} (Trainer) was left RUNNING" in line for line in lines), \
        "warned on the console"
    [log_path] = {line.split("full log: ")[1] for line in lines if line.startswith("full log: ")}
    assert os.path.dirname(log_path) == os.path.join(config.pipeline_root, "logs")
    with open(log_path) as handle:
        log = handle.read()
    assert "Running launcher" in log and "INFO" in log
    assert f"after epoch {len(killed.epochs_before)}" in log, "the Trainer did not resume from the saved epoch"
    assert f"execution {killed.execution_id} (Trainer) was left RUNNING, marked FAILED" in log
    executions = _store(config.metadata_path).get_executions()
    assert not [e.id for e in executions if e.last_known_state in (pb.Execution.RUNNING, pb.Execution.NEW)]
    assert {e.id: e.last_known_state for e in executions}[killed.execution_id] == pb.Execution.FAILED
    for path in killed.orphans:
        assert not os.path.exists(path) and path in log, path
    model = latest_artifact(config, "Model").uri
    after = read_training_log(os.path.join(model, "training_log.tsv"))
    assert [int(row["epoch"]) for row in after] == list(range(1, epochs + 1))
    assert after[0]["train_loss"] == pytest.approx(killed.epochs_before[0]["train_loss"]), "epoch 1 is not redone"
    resume = os.path.join(config.pipeline_root, "Trainer", RESUME_SUBDIR)
    assert os.listdir(resume) == [], "the resume directory is removed once training completed"
    assert os.path.exists(os.path.join(model, "Format-Serving", "saved_model.pb"))
