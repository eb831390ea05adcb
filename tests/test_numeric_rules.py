"""Reference values for the numeric rules of the NumPy modules: genome I/O, bigWig binning,
construct planning, window sampling, correlation and prediction averaging.

Every expected value here is written by hand (the comment shows the arithmetic) or computed by a
second, simpler implementation in the test, never by the function under test. No TensorFlow
graph and no Beam pipeline runs here, so the file is quick; it is the core of ``make mutate``'s
test selection (setup.cfg).
"""
from __future__ import annotations

import gzip
import hashlib
import math

import numpy as np
import pytest

from components import bigwig, genome
from components.bigwig_track_gen import sampling
from components.correlation import CorrelationSums, mean_of_tracks, mean_track_pearson, pearson_r, spearman_rho
from components.errors import InputError
from components.genome import BedRecord, Region
from components.payload_example_gen import constructs


# ------------------------------------------------------------------------------------ genome I/O
def test_codes_one_hot_and_reverse_complement_by_hand():
    codes = genome.encode_sequence("ACGTNacgtn-RY")
    assert codes.dtype == np.uint8 and codes.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 4, 4]
    assert genome.decode_codes(codes) == "ACGTNACGTNNNN"
    assert genome.decode_codes(genome.reverse_complement_codes(genome.encode_sequence("AACGTN"))) == "NACGTT"
    batch = genome.reverse_complement_codes(np.array([[0, 0, 1], [2, 3, 4]], np.uint8))
    assert batch.tolist() == [[2, 3, 3], [4, 0, 1]]  # along the last axis only
    assert genome.one_hot(np.array([0, 1, 2, 3, 4], np.uint8)).tolist() == [
        [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert genome.one_hot(np.array([2, 4], np.uint8)).dtype == np.float32  # the model's input dtype
    assert genome.encode_sequence("A\u00e9C\u00f1").tolist() == [0, 4, 1, 4]  # non-ASCII letters are N, no error
    assert genome.is_plain_dna("ACGTNacgtn") and genome.is_plain_dna("")
    assert not genome.is_plain_dna("ACGU") and not genome.is_plain_dna("AC GT")


def test_window_views_by_hand():
    codes = genome.encode_sequence("ACGTTGCAAC")
    # The four callers' offsets for a 4 bp window: 1-bp shifts -1..+1 of the window at 1 (strides 3,
    # ``predict-payload``) -> starts 0, 1, 2; two 4 bp fragments with those shifts (``predict-regions``)
    # -> 0, 1, 2 and 4, 5, 6; three evenly spaced in [0, 10 - 4] (the Designer) = every 3rd bp
    # (``predict --stride 3``) -> 0, 3, 6.
    views = lambda starts: [genome.decode_codes(w) for w in genome.window_views(codes, starts, 4)]
    assert views([0, 1, 2]) == ["ACGT", "CGTT", "GTTG"]
    assert views([0, 1, 2, 4, 5, 6]) == ["ACGT", "CGTT", "GTTG", "TGCA", "GCAA", "CAAC"]
    assert views(np.array([0, 3, 6])) == ["ACGT", "TTGC", "CAAC"]
    assert views([6]) == ["CAAC"]  # the last whole window
    assert genome.window_views(codes, [0, 9], 1).tolist() == [[0], [1]]  # 1 bp windows are windows too
    assert genome.window_views(codes, [], 4).shape == (0, 4)  # no starts: no windows (not an error)
    batch = genome.window_views(np.stack([codes, genome.reverse_complement_codes(codes)]), [1, 5], 3)
    assert batch.shape == (2, 2, 3) and [[genome.decode_codes(w) for w in row] for row in batch] == [
        ["CGT", "GCA"], ["TTG", "AAC"]]  # reverse complement: GTTGCAACGT
    views_copy = genome.window_views(codes, [0, 1], 4)
    views_copy[0, 1] = 4
    assert codes[1] == 1 and views_copy[1, 0] == 1  # a copy: windows do not alias each other or the codes
    for starts in ([-1], [7]):
        with pytest.raises(ValueError, match="leave the 10 bp sequence"):
            genome.window_views(codes, starts, 4)
    with pytest.raises(ValueError, match="window of 11 bp does not fit"):
        genome.window_views(codes, [0], 11)


def test_parse_region_is_one_based_inclusive():
    region = genome.parse_region(" chr3:11-20 ")
    assert region == Region("chr3", 10, 20) and region.length == 10 and str(region) == "chr3:11-20"
    assert genome.parse_region("chrX:1,000-2,000") == Region("chrX", 999, 2000)
    assert genome.parse_region("chr1:1-1") == Region("chr1", 0, 1)  # the smallest region: 1 bp
    for bad in ("chr1:0-5", "chr1:6-5", "chr1 5-6", "chr1:a-5", ":1-2", "chr1:5-6x"):
        with pytest.raises(InputError, match="region"):
            genome.parse_region(bad)


def test_read_bed_columns_comments_and_empty_intervals(tmp_path):
    path = tmp_path / "a.bed"
    path.write_text("track name=x\n#c\nbrowser position chr1\n\n"
                    "chr1\t0\t10\tsiteA\t0\t-\n"  # line 5
                    "chr2 5 6\n"  # line 6: space-separated
                    "chr1\t7\t7\tzero\n"  # line 7: empty
                    "chr1\t-1\t3\n")  # line 8: negative start
    empty: list = []
    assert list(genome.read_bed(str(path), empty_intervals=empty)) == [
        BedRecord("chr1", 0, 10, "siteA", 5, "-"), BedRecord("chr2", 5, 6, "", 6, ".")]
    assert empty == [f"{path}:7 zero", f"{path}:8"]
    assert BedRecord("chr1", 0, 10, "siteA", 5).region == Region("chr1", 0, 10, "siteA")
    with pytest.raises(InputError, match=f"{path}:7: need 0 <= start < end, got start=7 end=7"):
        list(genome.read_bed(str(path)))
    with pytest.raises(InputError, match=f"{path}:6: expected at least 4 BED columns, got 3"):
        list(genome.read_bed(str(path), require_name=True, empty_intervals=[]))
    (tmp_path / "b.bed").write_text("chr1\t1\tx\n")
    with pytest.raises(InputError, match=":1: start/end must be integers"):
        list(genome.read_bed(str(tmp_path / "b.bed")))
    (tmp_path / "c.bed").write_text("chr1\t1\n")
    with pytest.raises(InputError, match=":1: expected at least 3 BED columns, got 2"):
        list(genome.read_bed(str(tmp_path / "c.bed")))



def test_read_bed_fields_are_tab_separated_to_the_line_end(tmp_path):
    bed = tmp_path / "f.bed"
    # TAB lines keep spaces inside a name and its trailing space or X; 5 columns have no strand.
    bed.write_text("c\t0\t10\tmy name \t0\t-\nc\t5\t9\tchrX\t0\nc 1 2 spaced\nc\t3\t4\tlast \nc\t6\t7\tsiteX\r\n")
    assert [(r.start, r.end, r.name, r.strand, r.line) for r in genome.read_bed(str(bed))] == [
        (0, 10, "my name ", "-", 1), (5, 9, "chrX", ".", 2), (1, 2, "spaced", ".", 3), (3, 4, "last ", ".", 4),
        (6, 7, "siteX", ".", 5)]  # only the line end is cut: a last field's trailing space or X stays
    bed.write_text("c\ta\tb\n")
    with pytest.raises(InputError) as error:
        list(genome.read_bed(str(bed)))
    assert str(error.value) == f"{bed}:1: start/end must be integers, got 'a', 'b'"

def test_open_text_plain_gzip_and_errors(tmp_path):
    (tmp_path / "plain.txt").write_text("a\nb\n")
    with gzip.open(tmp_path / "named.txt", "wt") as handle:  # compression found by content, not name
        handle.write("a\nb\n")
    for name in ("plain.txt", "named.txt"):
        with genome.open_text(str(tmp_path / name)) as handle:
            assert handle.read() == "a\nb\n"
    assert genome.is_gzipped(str(tmp_path / "named.txt")) and not genome.is_gzipped(str(tmp_path / "plain.txt"))
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    (tmp_path / "cut.gz").write_bytes((tmp_path / "named.txt").read_bytes()[:-6])
    cases = [("missing.txt", "file not found"), ("", "is a directory"), ("latin1.txt", "not UTF-8 text"),
             ("cut.gz", "corrupt or truncated gzip")]
    for name, message in cases:
        with pytest.raises(InputError, match=message):
            with genome.open_text(str(tmp_path / name)) as handle:
                handle.read()


def test_tab_header_and_format_list():
    assert genome.tab_header("a\tb \tc\n", ("a", "b"), "t:1") == ["a", "b", "c"]
    # Only the line end is cut: a last name ending in X keeps it, a trailing TAB is an empty column.
    assert genome.tab_header("a\tbX\r\n", ("a",), "t:1") == ["a", "bX"]
    assert genome.tab_header("a\tb\t\n", ("a",), "t:1") == ["a", "b", ""]
    with pytest.raises(InputError, match="t:1: the header is not TAB-separated"):
        genome.tab_header("a b c\n", ("a", "b", "c"), "t:1")
    with pytest.raises(InputError, match="not TAB-separated"):
        genome.tab_header("a b x\n", ("a", "b", "c"), "t:1")  # 2 of 3 required names: a spaced header
    assert genome.tab_header("a x y\n", ("a", "b", "c"), "t:1") == ["a x y"]  # 1 of 3: left to the caller
    assert genome.tab_header("a z\n", ("a", "b"), "t:1") == ["a z"]  # 1 of 2 is not more than half
    assert genome.format_list(["a", "b", "c"], limit=3) == "a, b, c"
    assert genome.format_list(["a", "b", "c", "d"], limit=3) == "a, b, c, ... (4 in all)"
    assert genome.format_list([1, 2, 3, 4, 5]) == "1, 2, 3, 4, 5"
    assert genome.format_list([1, 2, 3, 4, 5, 6]) == "1, 2, 3, 4, 5, ... (6 in all)"


FASTA_TEXT = ">s1 first record\nACgt\nNN\n>s2\n\nA\n"  # s1 header on line 1, s2 on line 4


def test_iter_fasta_and_line_of_a_position(tmp_path):
    path = str(tmp_path / "p.fa")
    with open(path, "w") as handle:
        handle.write(FASTA_TEXT)
    assert list(genome.iter_fasta(path)) == [("s1", "ACgtNN", 1), ("s2", "A", 4)]
    # s1: bases 0-3 on line 2, 4-5 on line 3; s2: the blank line 5 holds nothing.
    assert genome.fasta_line_of(path, 1, 0) == (2, 1)
    assert genome.fasta_line_of(path, 1, 3) == (2, 4)
    assert genome.fasta_line_of(path, 1, 4) == (3, 1)
    assert genome.fasta_line_of(path, 1, 5) == (3, 2)
    assert genome.fasta_line_of(path, 4, 0) == (6, 1)
    assert genome.fasta_line_of(path, 4, 1) == (4, 0)  # past the end of the file
    for text, message in (("ACGT\n>a\nA\n", ":1: sequence data before the first"), (">\nACGT\n", ":1: FASTA header without"),
                          ("\n\n", "no records")):
        with open(path, "w") as handle:
            handle.write(text)
        with pytest.raises(InputError, match=message):
            list(genome.iter_fasta(path))


def test_write_fasta_wraps_lines_and_reference_fetches(tmp_path):
    path = str(tmp_path / "ref.fa")
    genome.write_fasta(path, [("c1", "ACGTacgtNN"), ("c2", "GGG")], line_width=4)
    assert open(path).read() == ">c1\nACGT\nacgt\nNN\n>c2\nGGG\n"
    assert genome.read_chrom_sizes_from_fai(path) == {"c1": 10, "c2": 3}
    with genome.ReferenceGenome(path) as reference:
        assert list(reference.chrom_sizes) == ["c1", "c2"]
        assert reference.fetch("c1", 3, 6) == "Tac"  # case as stored
        assert reference.fetch("c1", 0, 10) == "ACGTacgtNN"
        assert reference.fetch_codes("c1", 6, 10).tolist() == [2, 3, 4, 4]
        for chrom, start, end, message in (("c1", -1, 2, "outside"), ("c1", 0, 11, "outside"), ("c1", 4, 4, "outside"),
                                           ("c3", 0, 1, "chromosome 'c3' is not in")):
            with pytest.raises(InputError, match=message):
                reference.check_interval(chrom, start, end)
        reference.check_interval("c2", 2, 3)  # the last base is inside
    genome.write_fasta(str(tmp_path / "noindex.fa"), [("a", "ACG")], index=False)
    assert not (tmp_path / "noindex.fa.fai").exists()


def test_write_fasta_defaults_index_path_and_reference_messages(tmp_path):
    path = tmp_path / "wide.fa"
    genome.write_fasta(str(path), [("c", "A" * 60 + "C" * 60 + "G" * 10)])  # the default: 60 bases a line
    assert path.read_text() == ">c\n" + "A" * 60 + "\n" + "C" * 60 + "\n" + "G" * 10 + "\n"
    assert (tmp_path / "wide.fa.fai").read_text() == "c\t130\t3\t60\t61\n"  # the index by default
    # A named index: name, length, offset of the first base, bases and bytes per line (samtools .fai).
    named = tmp_path / "named.fa"
    genome.write_fasta(str(named), [("c1", "ACGTacgtNN"), ("c2", "GGG")], line_width=4,
                       index_path=str(tmp_path / "elsewhere.fai"))
    assert (tmp_path / "elsewhere.fai").read_text() == "c1\t10\t4\t4\t5\nc2\t3\t21\t3\t4\n"
    assert not (tmp_path / "named.fa.fai").exists()
    with pytest.raises(UnicodeEncodeError):  # FASTA is ASCII: a non-ASCII name is refused, not written as UTF-8
        genome.write_fasta(str(tmp_path / "accent.fa"), [("caf\u00e9", "ACGT")], index=False)
    missing = tmp_path / "missing.fa"
    with pytest.raises(InputError) as error:
        genome.ReferenceGenome(str(missing))
    assert str(error.value) == f"{missing}: reference FASTA not found"
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">c\nACGT\nAC\nACGT\n")  # a short line inside a record cannot be indexed
    with pytest.raises(InputError) as error:
        genome.ReferenceGenome(str(ragged))
    assert str(error.value).startswith(f"{ragged}: cannot index reference FASTA: ") and len(str(error.value)) > len(
        f"{ragged}: cannot index reference FASTA: ")


def test_reference_keeps_an_existing_index_and_names_bad_intervals(tmp_path):
    import os

    path = str(tmp_path / "ref.fa")
    genome.write_fasta(path, [(f"c{i}", "ACGT" * (i + 1)) for i in range(9)])
    # An index older than the FASTA (a copy that did not keep modification times) is used as it
    # is, not rewritten: the reference directory may be read-only.
    os.utime(path + ".fai", (1_000_000, 1_000_000))
    with pytest.warns(RuntimeWarning, match="is older than FASTA"):
        reference = genome.ReferenceGenome(path)
    with reference:
        assert os.path.getmtime(path + ".fai") == 1_000_000
        assert reference.fetch("c1", 2, 6) == "GTAC" and reference.chrom_sizes["c8"] == 36
        for chrom, start, end in (("c0", -1, 2), ("c0", 0, 5), ("c0", 3, 3), ("c0", 3, 2)):
            with pytest.raises(InputError) as error:
                reference.check_interval(chrom, start, end, "region")
            assert str(error.value) == f"region c0:{start + 1}-{end}: outside chromosome c0 (length 4) in {path}"
        with pytest.raises(InputError) as error:
            reference.check_interval("chrZ", 0, 1)
        # Only the first 8 chromosome names are listed.
        assert str(error.value) == (f"interval chrZ:1-1: chromosome 'chrZ' is not in {path} "
                                    "(has c0, c1, c2, c3, c4, c5, c6, c7)")
        reference.check_interval("c0", 0, 4)  # the whole chromosome is inside
        reference.check_interval("c8", 35, 36)


def test_compressed_reference_must_be_bgzip(tmp_path):
    from Bio import bgzf

    plain = str(tmp_path / "plain.fa.gz")
    with gzip.open(plain, "wt") as handle:
        handle.write(">c\nACGTACGT\n")
    with pytest.raises(InputError, match="plain gzip reference FASTA cannot be read at random positions"):
        genome.ReferenceGenome(plain)
    blocked = str(tmp_path / "blocked.fa.gz")
    with bgzf.BgzfWriter(blocked) as handle:
        handle.write(">c\nACGTACGT\n")
    genome.check_compressed_reference(blocked)  # BGZF: accepted
    with genome.ReferenceGenome(blocked) as reference:
        assert reference.fetch("c", 2, 5) == "GTA"


def test_bgzf_header_rule_by_hand(tmp_path):
    # gzip header: magic 1f 8b, method 8, FLG, MTIME (4), XFL, OS; with FEXTRA (FLG bit 2 = 4):
    # XLEN (2) then the subfield id at bytes 12-13, "BC" for BGZF (SAM specification 4.1).
    def header(flags: int, subfield: bytes, size: int = 18) -> str:
        path = tmp_path / f"h{flags}{subfield.decode()}{size}.gz"
        path.write_bytes((b"\x1f\x8b\x08" + bytes([flags]) + bytes(6) + b"\x06\x00" + subfield + b"\x02\x00\x1b\x00")[:size])
        return str(path)

    assert genome.is_bgzf(header(4, b"BC"))
    assert genome.is_bgzf(header(4 | 1, b"BC"))  # FEXTRA among other flags
    assert not genome.is_bgzf(header(1, b"BC"))  # "BC" where the subfield would be, but no FEXTRA
    assert not genome.is_bgzf(header(0, b"BC"))
    assert not genome.is_bgzf(header(4, b"XY"))  # another extra subfield
    assert not genome.is_bgzf(header(4, b"BC", size=17))  # cut inside the header


# ----------------------------------------------------------------------------- bigWig binning
def test_median_of_runs_by_hand():
    # Few changes (run-length path): 10 x 5, 10 x 1, 11 x 3 -> sorted 1 (x10), 3 (x11), 5 (x10);
    # n = 31, the middle (16th) value is 3.
    assert bigwig.median_ignoring_nan(np.repeat([5.0, 1.0, 3.0], [10, 10, 11]).astype(np.float32)) == 3.0
    # n = 20 (even): the two middle values are the 10th (1) and 11th (5) -> 3.
    assert bigwig.median_ignoring_nan(np.repeat([5.0, 1.0], [10, 10]).astype(np.float32)) == 3.0
    values = np.repeat([2.0, np.nan, 4.0], [12, 30, 12]).astype(np.float32)  # NaNs are ignored: 2 x12, 4 x12
    assert bigwig.median_ignoring_nan(values) == 3.0
    assert bigwig.median_ignoring_nan(np.array([3.0, 1.0, 2.0, 10.0], np.float32)) == 2.5  # dense path
    assert bigwig.median_ignoring_nan(np.full(8, np.nan, np.float32)) == 0.0
    # n = 11, runs 3 x6, 1 x5: sorted five 1s then six 3s, the 6th value (index 5) is 3.
    assert bigwig.median_ignoring_nan(np.repeat([3.0, 1.0], [6, 5]).astype(np.float32)) == 3.0
    # A value that returns after another run: 3 x4, 1, 3 x5 -> 3 (the 1 counts once, not 6 times).
    assert bigwig.median_ignoring_nan(np.repeat([3.0, 1.0, 3.0], [4, 1, 5]).astype(np.float32)) == 3.0
    assert bigwig.median_ignoring_nan(np.repeat([3.0, 1.0, 3.0], [40, 1, 50]).astype(np.float32)) == 3.0


def test_window_runs_group_by_gap_and_size():
    def runs(starts, length):
        return [run.tolist() for run in bigwig._runs(np.asarray(starts, np.int64), length)]

    # A gap shorter than a window joins the run; a gap of exactly one window starts a new one.
    assert runs([5000, 0, 100], 1000) == [[1, 2], [0]]
    assert runs([0, 1999], 1000) == [[0, 1]]
    assert runs([0, 2000], 1000) == [[0], [1]]
    # A run never spans more than 4 Mb: windows every 500 bp; the first window ending past 4 Mb
    # (start 3,999,500, index 7999) opens the second run.
    chained = runs(np.arange(0, 4_000_001, 500), 1000)
    assert [len(run) for run in chained] == [7999, 2] and chained[1][0] == 7999


def test_track_table_round_trip_and_errors(tmp_path):
    specs = [bigwig.TrackSpec(0, "a", "/x/a.bw", 384.0, 1.0, "sum", "first track"),
             bigwig.TrackSpec(7, "b", "/x/b.bw", 2.5, 0.25, "sum_sqrt", "")]
    path = str(tmp_path / "tracks.tsv")
    bigwig.write_track_table(path, specs)
    assert open(path).read() == ("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n"
                                 "0\ta\t/x/a.bw\t384\t1\tsum\tfirst track\n7\tb\t/x/b.bw\t2.5\t0.25\tsum_sqrt\t\n")
    assert bigwig.read_track_table(path) == specs
    header = "description\tsum_stat\tscale\tclip\tfile\tidentifier\tindex\textra\n"  # any order, extra column
    table = tmp_path / "t.tsv"
    table.write_text("# comment\n" + header + "d\tmax\t2\t10\trel/c.bw\tc\t3\tz\n")
    (spec,) = bigwig.read_track_table(str(table))
    assert spec == bigwig.TrackSpec(3, "c", str(tmp_path / "rel" / "c.bw"), 10.0, 2.0, "max", "d")
    bad_rows = [
        ("index\tidentifier\tfile\tclip\tscale\tsum_stat\n", "lacks column(s) description"),
        (header + "d\tsum\t1\t1\ta.bw\ta\tone\tz\n", ":2: index must be an integer"),
        (header + "d\tmedian\t1\t1\ta.bw\ta\t0\tz\n", ":2: track 'a': unknown sum_stat 'median'"),
        (header + "d\tsum\t1\t0\ta.bw\ta\t0\tz\n", "clip must be a positive number"),
        (header + "d\tsum\tinf\t1\ta.bw\ta\t0\tz\n", "scale must be a finite number"),
        (header + "d\tsum\t1\t1\t\ta\t0\tz\n", ":2: empty identifier or file"),
        (header + "d\tsum\t1\t1\ta.bw\ta\t0\n", ":2: expected 8 columns, got 7"),
        (header + "d\tsum\t1\t1\ta.bw\ta\t0\tz\nd\tsum\t1\t1\tb.bw\tb\t0\tz\n", "duplicate index value(s) 0"),
        (header + "d\tsum\t1\t1\ta.bw\ta\t0\tz\nd\tsum\t1\t1\tb.bw\ta\t1\tz\n", "duplicate identifier value(s) a"),
        (header, "has no tracks"),
        ("index identifier file clip scale description sum_stat\n", "must be TAB-separated"),
    ]
    for text, message in bad_rows:
        table.write_text(text)
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            bigwig.read_track_table(str(table))


def test_track_table_lines_columns_and_messages_by_hand(tmp_path, monkeypatch):
    table = tmp_path / "t.tsv"
    table.write_text("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n0\ta\tsub/a.bw\t1\t1\tsum\td\n")
    monkeypatch.chdir(tmp_path)  # a table named relative to the working directory
    assert bigwig.read_track_table("t.tsv")[0].file == str(tmp_path / "sub" / "a.bw")
    # An indented comment is a comment; an extra column whose name has a space is one TAB column;
    # the last field is read to the line end (a description ending in X keeps it); a remote file
    # is kept as written.
    table.write_text("  # indented comment\n"
                     "index\tidentifier\tfile\tclip\tscale\tsum_stat\tmy note\tdescription\n"
                     "0\ta\tgs://bucket/a.bw\t1\t1\tsum\tx y\tchrX\n")
    assert bigwig.read_track_table(str(table)) == [bigwig.TrackSpec(0, "a", "gs://bucket/a.bw", 1.0, 1.0, "sum", "chrX")]
    table.write_text("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n0\ta\ta.bw\t1\t1\tsum\n")
    with pytest.raises(InputError) as error:
        bigwig.read_track_table(str(table))
    assert str(error.value) == f"{table}:2: expected 7 columns, got 6: '0\\ta\\ta.bw\\t1\\t1\\tsum'"
    table.write_text("index\tfile\tscale\textra\n")
    with pytest.raises(InputError) as error:
        bigwig.read_track_table(str(table))
    assert str(error.value) == (f"{table}:1: track table header lacks column(s) identifier, clip, sum_stat, description; "
                                "need the seven columns index identifier file clip scale sum_stat description "
                                "(got index file scale extra)")


def test_track_table_in_a_remote_directory_resolves_relative_files():
    import tensorflow as tf

    # TensorFlow's in-memory filesystem stands for gs://: open_text reads both through tf.io.gfile.
    directory = "ram://tables/set1"
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(f"{directory}/tracks.tsv", "w") as handle:
        handle.write("index\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n"
                     "0\ta\ta.bw\t1\t1\tsum\td\n1\tb\tsub/b.bw\t1\t1\tsum\td\n2\tc\t/abs/c.bw\t1\t1\tsum\td\n")
    specs = bigwig.read_track_table(f"{directory}/tracks.tsv")
    assert [spec.file for spec in specs] == ["ram://tables/set1/a.bw", "ram://tables/set1/sub/b.bw", "/abs/c.bw"]


def test_track_reader_checks_regions_against_every_bigwig(tmp_path):
    import pyBigWig

    path = str(tmp_path / "a.bw")
    handle = pyBigWig.open(path, "w")
    handle.addHeader([("c", 1000)], maxZooms=0)
    handle.addEntries(["c", "c"], [0, 500], ends=[500, 1000], values=[2.0, 6.0])
    handle.close()
    spec = bigwig.TrackSpec(0, "a", path, 100.0, 1.0, "mean", "")
    with bigwig.TrackReader([spec], 100) as reader:
        reader.check_region("c", 0, 1000)  # the whole chromosome is inside
        with pytest.raises(InputError, match=r"interval c:901-1001: beyond the end of c \(length 1000\)"):
            reader.check_region("c", 900, 1001)
        with pytest.raises(InputError, match=r"^interval z:11-20: chromosome 'z' is not in the bigWig of track 0 'a' "
                                             r"\(.*a\.bw; has c\)$"):
            reader.check_region("z", 10, 20)  # 0-based [10, 20) is 1-based 11-20
        # Bins [400, 500) and [500, 600): means 2 and 6.
        assert reader.read("c", 400, 600).tolist() == [[2.0], [6.0]] and reader.n_tracks == 1
        with pytest.raises(InputError, match="length 150 is not a multiple of width 100"):
            reader.read_windows("c", [0], 150)
    (tmp_path / "x.bw").write_text("not a bigwig\n")
    for name, message in (("none.bw", "file not found"), ("x.bw", "(cannot open|not a readable bigWig)")):
        with pytest.raises(InputError, match=f"track 0 'a': bigWig .*{name}: {message}"):
            bigwig.TrackReader([bigwig.TrackSpec(0, "a", str(tmp_path / name), 1.0, 1.0, "sum", "")], 100)
    with pytest.raises(InputError, match="no tracks given"):
        bigwig.TrackReader([], 100)


def test_track_reader_error_messages_and_closing_by_hand(tmp_path):
    import os

    import pyBigWig
    import pyBigWigTest

    path = str(tmp_path / "a.bw")
    handle = pyBigWig.open(path, "w")
    handle.addHeader([("c", 1000)], maxZooms=0)
    handle.addEntries(["c"], [0], ends=[1000], values=[1.0])
    handle.close()
    spec = bigwig.TrackSpec(0, "a", path, 100.0, 1.0, "sum", "")
    reader = bigwig.TrackReader([spec], 10)
    with pytest.raises(InputError) as error:  # 0-based [990, 1010) is 1-based 991-1010, past the end
        reader.read("c", 990, 1010)
    assert str(error.value) == f"track 0 'a': cannot read c:991-1010 from {path} (Invalid interval bounds!)"
    reader.close()
    reader.close()  # closing twice (a with block around an explicit close) is harmless
    # pyBigWig opens bigBed files too (its own test file ships with it); they are not tracks.
    big_bed = os.path.join(os.path.dirname(pyBigWigTest.__file__), "test.bigBed")
    with pytest.raises(InputError) as error:
        bigwig.TrackReader([bigwig.TrackSpec(3, "bed", big_bed, 1.0, 1.0, "sum", "")], 10)
    assert str(error.value) == f"track 3 'bed': bigWig {big_bed}: not a readable bigWig file"
    with pytest.raises(InputError) as error:
        bigwig.TrackReader([], 10)
    assert str(error.value) == "no tracks given"
    # A URL is not looked up on the local disk: pyBigWig opens it (and fails: nothing listens on port 9).
    url = "http://127.0.0.1:9/none.bw"
    with pytest.raises(InputError) as error:
        bigwig.TrackReader([bigwig.TrackSpec(0, "a", url, 1.0, 1.0, "sum", "")], 10)
    assert str(error.value).startswith(f"track 0 'a': bigWig {url}: cannot open (")


def test_binning_refuses_bad_shapes_and_statistics():
    spec = bigwig.TrackSpec(0, "a", "a.bw", 100.0, 1.0, "sum", "")
    for values, shape in ((np.zeros((2, 4)), "(2, 4)"), (np.zeros(5), "(5,)")):  # 2-D (size a multiple of 2); 5 bp
        with pytest.raises(ValueError) as error:
            bigwig.bin_signal(values, 2, spec)
        assert str(error.value) == f"bin_signal needs [L] values with L a multiple of 2, got shape {shape}"
    with pytest.raises(InputError) as error:
        bigwig.aggregate_bins(np.zeros(4), 2, "median")
    assert str(error.value) == "unknown sum_stat 'median' (use one of sum, mean, max, sum_sqrt)"


def test_binning_clips_both_signs_by_hand():
    # Bin sums -10, 10, -1e6 and 4: clip 5 -> -5, 5, -5, 4; with clip 1e9 the float16 range (65504) clips.
    values = np.array([-4.0, -6.0, 4.0, 6.0, -5e5, -5e5, 1.0, 3.0])
    assert bigwig.bin_signal(values, 2, bigwig.TrackSpec(0, "a", "a.bw", 5.0, 1.0, "sum", "")).tolist() == [-5, 5, -5, 4]
    assert bigwig.bin_signal(values, 2, bigwig.TrackSpec(0, "a", "a.bw", 1e9, 1.0, "sum", "")).tolist() == [
        -10, 10, -65504, 4]


def test_max_track_std_by_hand():
    # Track 0 bins 1, 3 -> population std 1; track 1 bins 0, 4 -> std 2.
    assert bigwig.max_track_std(np.array([[1, 0], [3, 4]], np.float16)) == 2.0


# -------------------------------------------------------------------------- construct planning
def test_layout_pads_and_trims_by_hand():
    assert constructs.layout(7, 10) == constructs.Layout(left=1, right=2, trim=0, kept=7)  # pad 3: odd base right
    assert constructs.layout(6, 10) == constructs.Layout(left=2, right=2, trim=0, kept=6)
    assert constructs.layout(10, 10) == constructs.Layout(left=0, right=0, trim=0, kept=10)
    assert constructs.layout(13, 10) == constructs.Layout(left=0, right=0, trim=1, kept=10)  # excess 3: 1 left, 2 right
    assert constructs.layout(14, 10) == constructs.Layout(left=0, right=0, trim=2, kept=10)
    assert constructs.layout(7, 10).shift == 1 and constructs.layout(13, 10).shift == -1
    assert constructs.build_construct("ACG", "TTA", "GG", 6) == "aACGgg"  # pad 3: the flanks' inner 1 + 2 bases
    with pytest.raises(ValueError, match="^flanks shorter than the padding required$"):
        constructs.build_construct("ACG", "T", "G", 6)  # needs 1 left (has 1) and 2 right (has 1)
    with pytest.raises(ValueError, match="^flanks shorter than the padding required$"):
        constructs.build_construct("ACG", "", "GGG", 6)


def test_shift_annotations_keeps_sites_inside_the_construct():
    place = constructs.layout(7, 10)  # pad 3: shift +1
    sites = [constructs.Annotation("first", 0, 2, "+"), constructs.Annotation("edge", 6, 9),
             constructs.Annotation("over", 7, 10)]
    kept, dropped = constructs.shift_annotations(sites, place, 10)
    # [6, 9) + 1 = [7, 10) ends on the construct's last base; [7, 10) + 1 = [8, 11) leaves it.
    assert kept == [constructs.Annotation("first", 1, 3, "+"), constructs.Annotation("edge", 7, 10)]
    assert dropped == [constructs.Annotation("over", 8, 11)]
    trimmed = constructs.layout(12, 10)  # trim 1: shift -1
    kept, dropped = constructs.shift_annotations(
        [constructs.Annotation("a", 1, 11), constructs.Annotation("b", 0, 1), constructs.Annotation("c", 2, 12)], trimmed, 10)
    assert kept == [constructs.Annotation("a", 0, 10)]
    assert dropped == [constructs.Annotation("b", -1, 0), constructs.Annotation("c", 1, 11)]


def _split_by_hand(name: str, seed: int, folds) -> str:
    """TFX hash-bucket rule written out: first 8 bytes of sha256("seed<TAB>name"), big-endian,
    modulo the total weight, walked through the cumulative fold ranges."""
    bucket = int.from_bytes(hashlib.sha256(f"{seed}\t{name}".encode()).digest()[:8], "big") % sum(w for _, w in folds)
    for fold, weight in folds:
        if bucket < weight:
            return fold
        bucket -= weight
    raise AssertionError("bucket past the last fold")


def test_assign_split_is_the_hash_bucket_rule():
    for folds in ([("train", 3), ("eval", 1)], [("a", 1), ("b", 1), ("c", 5)], [("only", 1)]):
        names = [f"payload{i}" for i in range(60)]
        got = [constructs.assign_split(name, 17, folds) for name in names]
        assert got == [_split_by_hand(name, 17, folds) for name in names]
        assert len(folds) == 1 or len(set(got)) > 1


def test_activity_tables_merge_replicates_and_skip_na(tmp_path):
    first, second = tmp_path / "a.tsv", tmp_path / "b.tsv"
    first.write_text("MenDel.Name\tgroups\tfoldchange\tactivity\n"
                     "P~1\tg1\t0\t1.0\n"
                     "P2\tg2\tNA\t5\n"  # NA foldchange: skipped
                     "\n"
                     "P~1\tg1\t0\t2.5\n"
                     "P3\tg3\t1\tnan\n"  # nan activity: skipped
                     "P4\tg4\t1\t\n")  # empty activity: skipped
    second.write_text("activity\tMenDel.Name\tfoldchange\tgroup\n"  # other column order, 'group'
                      "3.5\tP~1\t0\tother\n"  # group differs: the first is kept
                      "-2\tP5\t1\tg5\n")
    entries = constructs.read_activity_tables([str(first), str(second)])
    assert [(e.name, e.group, e.activity, e.replicates, e.where) for e in entries] == [
        ("P~1", "g1", (1.0 + 2.5 + 3.5) / 3, 3, f"{first}:2"), ("P5", "g5", -2.0, 1, f"{second}:3")]
    cases = [
        ("", "activity table is empty"),
        ("MenDel.Name\tfoldchange\tactivity\n", "lacks column(s) groups (or group)"),
        ("MenDel.Name\tgroups\tactivity\n", "lacks column(s) foldchange"),
        ("MenDel.Name\tgroups\tfoldchange\tactivity\nP\tg\t0\n", ":2: expected 4 tab-separated fields, got 3"),
        ("MenDel.Name\tgroups\tfoldchange\tactivity\n \tg\t0\t1\n", ":2: empty MenDel.Name"),
        ("MenDel.Name\tgroups\tfoldchange\tactivity\nP\tg\t0\thigh\n", ":2: activity of 'P' is not a number: 'high'"),
        ("MenDel.Name\tgroups\tfoldchange\tactivity\nP\tg\tinf\t1\n", ":2: foldchange of 'P' is not finite"),
        ("MenDel.Name\tgroups\tfoldchange\tactivity\nP\tg\tNA\t1\n", "no payload left after skipping 1 row"),
    ]
    for text, message in cases:
        first.write_text(text)
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            constructs.read_activity_tables([str(first)])


def test_scan_payloads_and_annotations(tmp_path):
    fasta = tmp_path / "p.fa"
    fasta.write_text(">P_1\nACGTACGTAC\n>P2\nAAAA\n>P_1\nacgtacgtac\n>extra\nRRRR\n")  # a repeat with equal sequence
    found = constructs.scan_payloads(str(fasta), {"P_1", "P2"})
    assert found == {"P_1": constructs.PayloadInfo("P_1", 10), "P2": constructs.PayloadInfo("P2", 4)}
    with pytest.raises(InputError, match=r"1 payload\(s\) of the activity table are not in the payload FASTA.*: P9"):
        constructs.scan_payloads(str(fasta), {"P2", "P9"})
    (tmp_path / "bad.fa").write_text(">P\nACGT\nACRT\n")
    with pytest.raises(InputError, match=r":3: payload 'P' has 'R' at position 7 \(column 3\)"):
        constructs.scan_payloads(str(tmp_path / "bad.fa"), {"P"})
    (tmp_path / "twice.fa").write_text(">P\nACGT\n>P\nACGA\n")
    with pytest.raises(InputError, match=r":3: payload 'P' appears again \(first at line 1\)"):
        constructs.scan_payloads(str(tmp_path / "twice.fa"), {"P"})

    bed = tmp_path / "sites.bed"
    bed.write_text("P~1\t2\t5\tsiteA\t0\t+\n"
                   "P~1\t6\t10\tlast\n"  # ends at the payload end: kept
                   "P~1\t6\t11\tpast\n"  # one base past it: skipped
                   "P9\t0\t1\tunknown\n"
                   "P2\t3\t3\tempty\n")
    sites = constructs.read_annotations(str(bed), {"P_1": 10, "P2": 4})
    assert dict(sites) == {"P_1": [constructs.Annotation("siteA", 2, 5, "+"), constructs.Annotation("last", 6, 10)]}
    assert constructs.read_annotations(None, {"P_1": 10}) == {}


def test_locus_flanks_by_hand(tmp_path):
    reference = str(tmp_path / "ref.fa")
    genome.write_fasta(reference, [("c", "AAAAACCCCCGGGGGTTTTT")])  # context c:9-12 = [8, 12)
    lengths = {"short": 4, "shorter": 1, "long": 30}
    # construct 7: "short" needs 1 left + 2 right, "shorter" 3 + 3, "long" is trimmed (no flank).
    assert constructs.locus_flanks(reference, "c:9-12", lengths, 7) == ("ccc", "ggg")
    assert constructs.locus_flanks(None, None, lengths, 7) == ("nnn", "nnn")
    assert constructs.locus_flanks(reference, "c:9-12", {"long": 30}, 7) == ("", "")
    with pytest.raises(InputError, match=r"flanks run off chromosome c \(length 20\).*'shorter' \(1 bp\) needs 10 bp left"):
        constructs.locus_flanks(reference, "c:9-12", lengths, 21)
    with pytest.raises(InputError, match="context c:19-22: outside"):
        constructs.locus_flanks(reference, "c:19-22", lengths, 7)


def _plan_inputs(tmp_path):
    reference = str(tmp_path / "ref.fa")
    genome.write_fasta(reference, [("c", "AAAAACCCCCGGGGGTTTTTACGTACGTAC")])
    table = tmp_path / "activity.tsv"
    table.write_text("MenDel.Name\tgroups\tfoldchange\tactivity\n"
                     "P~1\tg1\t0\t1\nP2\tg2\t0\t3\nP~1\tg1\t0\t2\nP3\tg1\t0\t4\n")
    payloads = tmp_path / "payloads.fa"
    payloads.write_text(">P_1\nACGTAC\n>P2\nTTGCATGCATGCA\n>P3\nGGGGGCCCCC\n")
    sites = tmp_path / "sites.bed"
    sites.write_text("P~1\t1\t3\ts1\nP2\t0\t2\tcut\nP2\t1\t4\tkept\nP3\t5\t7\tb\nP3\t2\t4\ta\n")
    return [str(table)], str(payloads), reference, str(sites)


def test_plan_dataset_by_hand(tmp_path, caplog):
    import logging

    tables, payloads, reference, sites = _plan_inputs(tmp_path)
    folds = [("train", 1), ("eval", 1)]
    seed = next(s for s in range(100) if len({_split_by_hand(n, s, folds) for n in ("P~1", "P2", "P3")}) == 2)
    caplog.set_level(logging.INFO, logger=constructs.logger.name)
    plan = constructs.plan_dataset(tables, payloads, reference, "c:16-20", sites, construct_length=10,
                                   window_length=8, seed=seed, folds={"train": 1, "eval": 1}, records_per_shard=2)
    # Construct 10 bp: P_1 (6 bp) pads 2 + 2, shift +2; P2 (13 bp) is trimmed 1 left and 2 right,
    # shift -1 (site "cut" [0, 2) -> [-1, 1) is dropped); P3 (10 bp) fits, shift 0, sites sorted.
    expected = [(0, "P~1", "P_1", "g1", 1.5, 6, (constructs.Annotation("s1", 3, 5),)),
                (1, "P2", "P2", "g2", 3.0, 13, (constructs.Annotation("kept", 0, 3),)),
                (2, "P3", "P3", "g1", 4.0, 10, (constructs.Annotation("a", 2, 4), constructs.Annotation("b", 5, 7)))]
    assert [(p.index, p.name, p.fasta_key, p.group, p.activity, p.length, p.annotations) for p in plan.payloads] == expected
    assert [p.splits for p in plan.payloads] == [(_split_by_hand(n, seed, folds),) for n in ("P~1", "P2", "P3")]
    # Flanks: 2 bp each side of the context [15, 20) of AAAAACCCCCGGGGGTTTTTACGT...
    assert (plan.left_flank, plan.right_flank) == ("gg", "ac")
    assert (plan.payload_fasta, plan.construct_length, plan.window_length, plan.seed, plan.split_mode,
            plan.split_names, plan.records_per_shard, plan.num_shards) == (
        payloads, 10, 8, seed, "payload", ("train", "eval"), 2, 2)
    messages = [record.getMessage() for record in caplog.records]
    assert "payload 'P2' (13 bp) is longer than the 10 bp construct: centre-trimmed by 1 bp left, 2 bp right; " \
           "annotations dropped: cut" in messages
    counts = plan.split_counts()
    assert f"payloads per split: {counts} (mode payload)" in messages
    by_group = {group: {} for group in ("g1", "g2")}
    for payload in plan.payloads:
        by_group[payload.group][payload.splits[0]] = by_group[payload.group].get(payload.splits[0], 0) + 1
    assert [m for m in messages if m.startswith("  group ")] == [
        f"  group {g}: {dict(sorted(by_group[g].items()))}" for g in ("g1", "g2")]
    # offsets mode: every payload in every split; the smallest lengths (1 bp) are allowed.
    offsets = constructs.plan_dataset(tables, payloads, reference, "c:16-20", None, construct_length=1, window_length=1,
                                      split_mode="offsets", folds=["train=8", "eval=2"])
    assert [p.splits for p in offsets.payloads] == [("train", "eval")] * 3 and offsets.left_flank == ""
    caplog.clear()
    equal = constructs.plan_dataset(tables, payloads, reference, "c:16-20", None, construct_length=10, window_length=10,
                                    split_mode="offsets", records_per_shard=1)  # a window as long as the construct
    assert equal.split_names == ("train", "eval") and equal.window_length == 10 and equal.num_shards == 3
    assert "payload 'P2' (13 bp) is longer than the 10 bp construct: centre-trimmed by 1 bp left, 2 bp right" in [
        record.getMessage() for record in caplog.records]  # no annotation dropped: nothing appended


def test_plan_dataset_refusals_by_hand(tmp_path):
    tables, payloads, reference, _ = _plan_inputs(tmp_path)

    def refusal(**kwargs) -> str:
        arguments = dict(activity_tables=tables, payload_fasta=payloads, reference_fasta=reference, context="c:16-20",
                         construct_length=10, window_length=8, split_mode="offsets")
        with pytest.raises(InputError) as error:
            constructs.plan_dataset(**{**arguments, **kwargs})
        return str(error.value)

    assert refusal(split_mode="random") == "split mode 'random': expected one of payload, offsets"
    assert refusal(construct_length=0, window_length=8) == "construct length 0 and window length 8 must be positive"
    assert refusal(window_length=0) == "construct length 10 and window length 0 must be positive"
    assert refusal(window_length=11) == "window length 11 exceeds the construct length 10"
    assert refusal(records_per_shard=0) == "records_per_shard must be positive"
    assert refusal(activity_tables=[]) == "no activity table given"
    clash = tmp_path / "clash.tsv"
    clash.write_text("MenDel.Name\tgroups\tfoldchange\tactivity\nP~1\tg\t0\t1\nP_1\tg\t0\t1\n")
    assert refusal(activity_tables=[str(clash)]) == (f"{clash}:3: payloads 'P~1' and 'P_1' both map to FASTA name 'P_1'")
    one = tmp_path / "one.tsv"
    one.write_text("MenDel.Name\tgroups\tfoldchange\tactivity\nP3\tg\t0\t1\n")
    split = _split_by_hand("P3", 5, [("train", 8), ("eval", 2)])
    empty = "eval" if split == "train" else "train"
    assert refusal(activity_tables=[str(one)], split_mode="payload") == (
        f"split(s) {empty} would be empty: folds {{'train': 8, 'eval': 2}} with seed 5 put 1 payload(s) as "
        f"{{'train': {int(split == 'train')}, 'eval': {int(split == 'eval')}}}; add payloads, change the ratios or the "
        "seed, or use --split-mode offsets")
    three = [("train", 1), ("eval", 1), ("test", 1)]
    empty = [name for name, _ in three if name != _split_by_hand("P3", 5, three)]
    assert refusal(activity_tables=[str(one)], split_mode="payload", folds=dict(three)).startswith(
        f"split(s) {empty[0]}, {empty[1]} would be empty: ")

def test_payload_inputs_messages_and_warnings_by_hand(tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO, logger=constructs.logger.name)
    table = tmp_path / "a.tsv"
    table.write_text("MenDel.Name\tgroups\tfoldchange\tactivity\n"
                     "P\tg1\t0\t1\nQ\tg\tNA\t1\n\t\t\t\nR\tg\t0\tNaN\nS\tg\t\t2\nP\tg2\t0\t3\n")
    entries = constructs.read_activity_tables([str(table)])
    assert [(e.name, e.group, e.activity) for e in entries] == [("P", "g1", 2.0)]  # a row of empty cells is blank
    assert [r.getMessage() for r in caplog.records] == [
        f"{table}:7: payload 'P' has group 'g2' but 'g1' at {table}:2; keeping the first",
        "activity table: skipped 3 row(s) with NA activity or foldchange"]
    columns = [f"c{i}" for i in range(12)]
    table.write_text("\t".join(["MenDel.Name", "activity"] + columns) + "\n")
    with pytest.raises(InputError) as error:
        constructs.read_activity_tables([str(table)])
    assert str(error.value) == (f"{table}:1: activity table lacks column(s) foldchange, groups (or group); found "
                                "MenDel.Name, activity, c0, c1, c2, c3, c4, c5, c6, c7, ... (14 in all). Required: "
                                "MenDel.Name, groups (or group), foldchange, activity (tab-separated)")
    table.write_text("MenDel.Name groups foldchange activity\n")
    with pytest.raises(InputError) as error:
        constructs.read_activity_tables([str(table)])
    assert str(error.value) == (f"{table}:1: the header is not TAB-separated (columns must be separated by TAB "
                                "characters, found spaces): 'MenDel.Name groups foldchange activity'")

    fasta = tmp_path / "p.fa"
    # A repeated name with the same sequence in another case is one payload; scanning goes on
    # after it; a payload nobody asked for may hold any text.
    fasta.write_text(">A\nACGT\n>A\nacgt\n>B\nGG\n>skip\ncaf\u00e9\n")
    assert constructs.scan_payloads(str(fasta), {"A", "B"}) == {
        "A": constructs.PayloadInfo("A", 4), "B": constructs.PayloadInfo("B", 2)}
    fasta.write_text(">A\nACGT\n>A\nACGA\n")
    with pytest.raises(InputError) as error:
        constructs.scan_payloads(str(fasta), {"A"})
    assert str(error.value) == (f"{fasta}:3: payload 'A' appears again (first at line 1) with a different sequence; "
                                "payload names must be unique")
    fasta.write_text(">A\nacXt\n")
    with pytest.raises(InputError) as error:
        constructs.scan_payloads(str(fasta), {"A"})
    assert str(error.value) == f"{fasta}:2: payload 'A' has 'X' at position 3 (column 3); only A, C, G, T, N are allowed"

    caplog.clear()
    bed = tmp_path / "sites.bed"
    bed.write_text("A\t0\t2\ts\nZ\t0\t1\tu\nA\t1\t9\tlong\nA\t3\t3\tempty\n")
    assert dict(constructs.read_annotations(str(bed), {"A": 4})) == {"A": [constructs.Annotation("s", 0, 2)]}
    assert sorted(r.getMessage() for r in caplog.records) == [
        f"{bed}: skipped 1 annotation line(s), past the payload end: {bed}:3 long (end 9 > 4 bp)",
        f"{bed}: skipped 1 annotation line(s), start >= end or negative: {bed}:4 empty",
        f"{bed}: skipped 1 annotation line(s), unknown payload: {bed}:2 Z"]
    bed.write_text("A\t0\t2\n")
    with pytest.raises(InputError) as error:
        constructs.read_annotations(str(bed), {"A": 4})
    assert str(error.value) == f"{bed}:1: expected at least 4 BED columns, got 3: 'A\\t0\\t2'"


def test_locus_flanks_at_chromosome_edges_by_hand(tmp_path):
    reference = str(tmp_path / "ref.fa")
    genome.write_fasta(reference, [("c", "AAAAACCCCCGGGGGTTTTT")])
    lengths = {"p": 1}  # construct 7: pad 6, 3 bp each side
    assert constructs.locus_flanks(reference, "c:4-5", lengths, 7) == ("aaa", "ccc")  # [3, 5): flanks [0, 3), [5, 8)
    assert constructs.locus_flanks(reference, "c:15-17", lengths, 7) == ("ggg", "ttt")  # [14, 17): right flank ends at 20
    for context in ("c:3-4", "c:16-18"):
        with pytest.raises(InputError) as error:
            constructs.locus_flanks(reference, context, lengths, 7)
        assert str(error.value) == (f"context {context}: flanks run off chromosome c (length 20) in {reference}: payload "
                                    "'p' (1 bp) needs 3 bp left and 3 bp right of the context for a 7 bp construct; "
                                    "use a shorter --length")
    assert constructs.locus_flanks(reference, "c:4-5", {}, 7) == ("", "")  # no payload: no flank
    assert constructs.locus_flanks(None, None, {}, 7) == ("", "")
    assert constructs.locus_flanks(reference, None, lengths, 7) == ("nnn", "nnn")  # a reference without a context
    assert constructs.locus_flanks(None, "c:4-5", lengths, 7) == ("nnn", "nnn")

def test_dataset_plan_shards_by_hand():
    payload = constructs.PayloadPlan(0, "p", "p", "g", 1.0, 10, ("train",), ())
    plan = constructs.DatasetPlan((payload,) * 5, "p.fa", "", "", 10, 8, 0, "payload", ("train", "eval"), 2)
    assert plan.num_shards == 3 and [len(plan.shard(i)) for i in range(3)] == [2, 2, 1]
    assert plan.split_counts() == {"train": 5, "eval": 0}
    empty = constructs.DatasetPlan((), "p.fa", "", "", 10, 8, 0, "payload", ("train",), 2)
    assert empty.num_shards == 1


# ----------------------------------------------------------------------------- window sampling
def test_merge_intervals_joins_overlapping_and_touching():
    records = [BedRecord("c", 10, 20, "", 1), BedRecord("c", 0, 10, "", 2), BedRecord("c", 25, 30, "", 3),
               BedRecord("b", 5, 6, "", 4), BedRecord("c", 12, 15, "", 5), BedRecord("c", 29, 40, "", 6)]
    assert sampling.merge_intervals(records) == [Region("b", 5, 6), Region("c", 0, 20), Region("c", 25, 40)]


def test_count_starts_by_hand():
    assert sampling.count_starts(10, 4, 3) == 3  # starts 0, 3, 6
    assert sampling.count_starts(9, 4, 3) == 2  # starts 0, 3
    assert sampling.count_starts(4, 4, 5) == 1
    assert sampling.count_starts(3, 4, 1) == 0


def test_sampling_every_candidate_and_shards_by_hand():
    pieces = [(Region("c", 0, 10), "train"), (Region("d", 100, 107), "eval"), (Region("e", 0, 3), "train")]
    # length 4, step 3: c starts 0, 3, 6; d starts 100, 103; e is too short.
    drawn = sampling.sample_windows(pieces, length=4, step=3, count=5, seed=1)
    assert sorted(drawn) == [("c", 0, "train"), ("c", 3, "train"), ("c", 6, "train"), ("d", 100, "eval"), ("d", 103, "eval")]
    with pytest.raises(InputError, match="requested 6 windows .* only 5 distinct windows of 4 bp"):
        sampling.sample_windows(pieces, length=4, step=3, count=6, seed=1)
    with pytest.raises(InputError, match=r"no mappable interval is at least 11 bp long \(longest: 10 bp\)"):
        sampling.sample_windows(pieces, length=11, step=1, count=1, seed=1)
    with pytest.raises(InputError, match=r"no mappable interval is at least 4 bp long \(longest: 0 bp\)"):
        sampling.sample_windows([], length=4, step=1, count=1, seed=1)  # no interval at all
    windows = sampling.assign_shards([("c", 0, "train"), ("d", 9, "eval"), ("c", 5, "train"), ("c", 7, "train"),
                                      ("d", 1, "eval")], length=4, size=2)
    assert windows == [sampling.Window("c", 0, 4, "train", 0, 0), sampling.Window("d", 9, 13, "eval", 0, 0),
                       sampling.Window("c", 5, 9, "train", 1, 0), sampling.Window("c", 7, 11, "train", 1, 1),
                       sampling.Window("d", 1, 5, "eval", 2, 0)]


def _block_is_eval_by_hand(seed: int, chrom: str, block: int, fraction: float) -> bool:
    digest = hashlib.sha256(f"{seed}\t{chrom}\t{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") < fraction * 2**64


def test_fraction_splits_cut_at_block_edges():
    region = Region("c", 5, 95)
    for seed in range(4):
        pieces = sampling.assign_splits([region], 4, eval_fraction=0.5, split_block=10, seed=seed)
        labels = ["eval" if _block_is_eval_by_hand(seed, "c", k, 0.5) else "train" for k in range(10)]
        expected = []
        for k, label in enumerate(labels):  # blocks [10k, 10k + 10) clipped to [5, 95), equal labels merged
            start, end = max(5, 10 * k), min(95, 10 * k + 10)
            if expected and expected[-1][1] == label:
                expected[-1] = (Region("c", expected[-1][0].start, end), label)
            else:
                expected.append((Region("c", start, end), label))
        assert pieces == expected
    default = sampling.assign_splits([Region("c", 0, 100)], 4, seed=3)  # fraction 0.1, block 10 x 4 bp
    assert [(r.start, r.end) for r, _ in default][0][0] == 0 and default[-1][0].end == 100
    labels = ["eval" if _block_is_eval_by_hand(3, "c", k, 0.1) else "train" for k in range(3)]
    assert [s for _, s in default] == [label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label]
    by_chrom = sampling.assign_splits([Region("a", 0, 9), Region("b", 0, 9)], 4, eval_chroms=["b"])
    assert by_chrom == [(Region("a", 0, 9), "train"), (Region("b", 0, 9), "eval")]
    for kwargs, message in ((dict(eval_chroms=["b"], eval_fraction=0.5), "not both"),
                            (dict(eval_fraction=1.0), "between 0 and 1"), (dict(eval_fraction=0.0), "between 0 and 1"),
                            (dict(split_block=3), r"split block \(3 bp\) must be at least the window length \(4 bp\)")):
        with pytest.raises(InputError, match=message):
            sampling.assign_splits([region], 4, **kwargs)
    assert sampling.assign_splits([region], 4, split_block=4, eval_fraction=0.5)  # a block of one window is allowed


def _pieces_base_by_base(region: Region, seed: int, fraction: float, block: int) -> list:
    """Second implementation of the fraction split: label every base by its block, join runs."""
    pieces: list = []
    for base in range(region.start, region.end):
        label = "eval" if _block_is_eval_by_hand(seed, region.chrom, base // block, fraction) else "train"
        if pieces and pieces[-1][1] == label:
            pieces[-1] = (Region(region.chrom, pieces[-1][0].start, base + 1), label)
        else:
            pieces.append((Region(region.chrom, base, base + 1), label))
    return pieces


def test_split_rule_settings_by_hand():
    assert sampling.split_rule(4) == (None, 0.1, 40)  # fraction 0.1 and blocks of 10 windows by default
    assert sampling.split_rule(4, eval_fraction=0.25, split_block=6) == (None, 0.25, 6)
    assert sampling.split_rule(4, eval_chroms=["b", "a"]) == (frozenset({"a", "b"}), 0.0, 0)  # no fraction, no blocks
    with pytest.raises(InputError) as error:
        sampling.split_rule(4, eval_chroms=["b"], eval_fraction=0.5)
    assert str(error.value) == "give either eval chromosomes or an eval fraction, not both"
    with pytest.raises(InputError) as error:
        bigwig.TrackSpec(0, "a", "a.bw", 1.0, 1.0, "median", "")
    assert str(error.value) == "track 'a': unknown sum_stat 'median' (use one of sum, mean, max, sum_sqrt)"

def test_fraction_split_pieces_base_by_base():
    label = lambda s, k: _block_is_eval_by_hand(s, "c", k, 0.5)  # noqa: E731
    seed = next(s for s in range(100) if label(s, 1) != label(s, 2) and label(s, 2) != label(s, 3))
    # Ending on a block edge, one base past it, starting inside a later block, one block's bases only.
    regions = [Region("c", 5, 20), Region("c", 21, 31), Region("c", 34, 40), Region("c", 45, 49)]
    pieces = sampling.assign_splits(regions, 4, eval_fraction=0.5, split_block=10, seed=seed)
    assert pieces == [piece for region in regions for piece in _pieces_base_by_base(region, seed, 0.5, 10)]
    # The default seed is 0.
    assert sampling.assign_splits(regions, 4, eval_fraction=0.5, split_block=10) == [
        piece for region in regions for piece in _pieces_base_by_base(region, 0, 0.5, 10)]

def test_plan_windows_errors():
    intervals = [Region("a", 0, 100), Region("b", 0, 100), Region("c", 0, 3)]
    common = dict(length=10, step=1, size=4, batches=2, seed=0)
    for name in ("length", "step", "size", "batches"):
        with pytest.raises(InputError, match=f"{name} must be a positive integer, got 0"):
            sampling.plan_windows(intervals, **{**common, name: 0})
    with pytest.raises(InputError, match="eval chromosome\\(s\\) c, z have no mappable interval of at least 10 bp"):
        sampling.plan_windows(intervals, **common, eval_chroms=["b", "c", "z"])
    with pytest.raises(InputError, match="no mappable interval is at least 200 bp"):
        sampling.plan_windows(intervals, **{**common, "length": 200}, eval_chroms=["b"])
    with pytest.raises(InputError, match="none of the 8 sampled windows fell in the train split"):
        sampling.plan_windows([Region("b", 0, 100)], **common, eval_chroms=["b"])
    with pytest.raises(InputError, match="sample more windows or change --eval-chroms/--eval-fraction$"):
        sampling.plan_windows([Region("b", 0, 100)], **common, eval_chroms=["b"])
    # Intervals exactly one window long are usable (one start each).
    exact = sampling.plan_windows([Region("a", 0, 10), Region("b", 5, 15)], **{**common, "size": 1}, eval_chroms=["b"])
    assert sorted((w.chrom, w.start, w.split) for w in exact) == [("a", 0, "train"), ("b", 5, "eval")]
    # Fraction splits use the given block (not the default of 10 windows) and the seed.
    blocked = sampling.plan_windows([Region("a", 0, 400)], **{**common, "size": 40, "batches": 1}, eval_fraction=0.5,
                                    split_block=20)
    labels = ["eval" if _block_is_eval_by_hand(0, "a", k, 0.5) else "train" for k in range(20)]
    assert all(w.split == labels[w.start // 20] == labels[(w.end - 1) // 20] for w in blocked)
    assert blocked == sampling.plan_windows([Region("a", 0, 400)], **{**common, "size": 40, "batches": 1},
                                            eval_fraction=0.5, split_block=20)
    windows = sampling.plan_windows(intervals, **common, eval_chroms=["b"])
    assert len(windows) == 8 and {w.split for w in windows} == {"train", "eval"}
    assert all(w.end - w.start == 10 and w.shard == i // 4 for i, w in enumerate(windows))



def test_mappable_coverage_after_an_unknown_chromosome_by_hand():
    intervals = [Region("c", 0, 10), Region("c", 20, 30)]
    windows = [("z", 0, 10), ("c", 5, 25), ("c", 10, 20), ("c", 0, 40)]  # a window on a chromosome without intervals first
    # [5, 25): 5 bp of [0, 10) + 5 bp of [20, 30) -> 10 / 20; [10, 20) lies in the gap; [0, 40): 20 / 40.
    assert sampling.mappable_coverage(intervals, windows).tolist() == [0.0, 0.5, 0.0, 0.5]

def test_window_split_at_block_edges_by_hand():
    # Blocks of 10 bp: [0, 10) is block 0, [10, 20) block 1. A seed that labels them differently:
    seed = next(s for s in range(100) if _block_is_eval_by_hand(s, "c", 0, 0.5) != _block_is_eval_by_hand(s, "c", 1, 0.5))
    first, second = ("eval", "train") if _block_is_eval_by_hand(seed, "c", 0, 0.5) else ("train", "eval")
    assert sampling.window_split("c", 6, 10, None, 0.5, 10, seed) == first  # ends on the edge: block 0 only
    assert sampling.window_split("c", 7, 11, None, 0.5, 10, seed) is None  # its last base is in block 1
    assert sampling.window_split("c", 10, 14, None, 0.5, 10, seed) == second
    assert sampling.window_split("c", 7, 11, frozenset({"c"}), 0.0, 0, seed) == "eval"  # held-out chromosome
    assert sampling.window_split("d", 7, 11, frozenset({"c"}), 0.0, 0, seed) == "train"

    # A block is eval when its hash, as a fraction of 2**64, is strictly below eval_fraction.
    at = int.from_bytes(hashlib.sha256(f"{seed}\tc\t0".encode()).digest()[:8], "little") / 2.0**64
    assert sampling.window_split("c", 0, 4, None, at, 10, seed) == "train"
    assert sampling.window_split("c", 0, 4, None, np.nextafter(at, 1.0), 10, seed) == "eval"

def test_hotspot_candidates_at_chromosome_ends_by_hand():
    sizes = {"c": 100, "d": 100}
    mappable = [Region("c", 0, 100), Region("d", 0, 100)]
    # Length 10: a group's window starts at (span start + span end) // 2 - 5.
    hotspots = [Region("c", 4, 6),  # window [0, 10): starts on the chromosome start, kept
                Region("c", 94, 96),  # [90, 100): ends on the chromosome end, kept
                Region("d", 97, 99),  # [93, 103): past the end of d
                Region("u", 4, 6)]  # [0, 10) on a chromosome without a size
    kept, dropped = sampling.hotspot_candidates(hotspots, mappable, sizes, length=10, min_mappable=1.0, seed=0,
                                                eval_chroms=["d"])
    assert [(g.chrom, g.start, g.end, split) for g, split in kept] == [("c", 0, 10, "train"), ("c", 90, 100, "train")]
    assert dropped == {"off_chromosome": 2, "below_min_mappable": 0, "across_splits": 0}
    # A 1 bp window [0, 1) on an unknown chromosome is off it too (no size is not size 1).
    kept, dropped = sampling.hotspot_candidates([Region("u", 0, 1)], mappable, sizes, length=1, min_mappable=1.0,
                                                seed=0, eval_chroms=["d"])
    assert kept == [] and dropped["off_chromosome"] == 1
    # min_mappable is inclusive, with a 1e-12 tolerance: 1e-12 keeps a window of coverage 0.
    kept, dropped = sampling.hotspot_candidates([Region("c", 4, 6)], [], sizes, length=10, min_mappable=1e-12,
                                                seed=0, eval_chroms=["d"])
    assert len(kept) == 1 and dropped["below_min_mappable"] == 0
    kept, dropped = sampling.hotspot_candidates([Region("c", 4, 6)], [Region("c", 0, 5)], sizes, length=10,
                                                min_mappable=0.6, seed=0, eval_chroms=["d"])
    assert kept == [] and dropped["below_min_mappable"] == 1  # 5 of 10 bp mappable

def test_plan_windows_hotspot_mode_by_hand():
    # 20 hotspots, one in the middle of each 20 bp block of c: group windows [20k + 5, 20k + 15)
    # (length 10), each inside block k, so each takes block k's split under the given fraction,
    # block and seed.
    hotspots = [Region("c", 20 * k + 9, 20 * k + 11) for k in range(20)]
    common = dict(length=10, step=1, batches=1, sampling="hotspots", hotspots=hotspots, chrom_sizes={"c": 400},
                  eval_fraction=0.5, split_block=20)
    seed = next(s for s in range(100) if 5 < sum(_block_is_eval_by_hand(s, "c", k, 0.5) for k in range(20)) < 15)
    windows = sampling.plan_windows([Region("c", 0, 400)], size=20, seed=seed, **common)
    assert sorted(w.start for w in windows) == [20 * k + 5 for k in range(20)]
    assert all(w.split == ("eval" if _block_is_eval_by_hand(seed, "c", w.start // 20, 0.5) else "train") for w in windows)
    with pytest.raises(InputError) as error:
        sampling.plan_windows([Region("c", 0, 200)], size=21, seed=seed, **common)
    assert str(error.value) == ("requested 21 windows (size x batches) but only 10 hotspot windows of 10 bp (dropped: 0 off "
                                "the chromosome, 10 below --min-mappable 1.0, 0 across a split boundary) exist; "
                                "lower --size/--batches")
    with pytest.raises(InputError) as error:
        sampling.plan_windows([Region("c", 0, 400)], size=1, seed=seed, **{**common, "hotspots": []})
    assert str(error.value) == "--sampling hotspots needs a hotspot BED (--hotspots) with at least one interval"
    with pytest.raises(InputError) as error:
        sampling.plan_windows([Region("c", 0, 400)], size=1, seed=seed, **{**common, "sampling": "dense"})
    assert str(error.value) == "unknown sampling 'dense': choose one of uniform, hotspots, blocks"

def test_sample_listed_draws_all_or_refuses_more():
    listed = [("a", 0, "train"), ("a", 10, "eval"), ("b", 5, "train")]
    drawn = sampling.sample_listed(listed, 3, seed=1, what="hotspot windows")
    assert sorted(drawn) == sorted(listed)  # as many as listed: every one, once
    with pytest.raises(InputError) as error:
        sampling.sample_listed(listed, 4, seed=1, what="hotspot windows")
    assert str(error.value) == ("requested 4 windows (size x batches) but only 3 hotspot windows exist; "
                                "lower --size/--batches")

# --------------------------------------------------------------------------------- correlation
def test_pearson_and_spearman_by_hand():
    # x = 1,2,3; y = 1,3,2: centred -1,0,1 and -1,1,0 -> Sxy = 1, Sxx = Syy = 2 -> r = 1/2.
    assert pearson_r([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5, abs=1e-15)
    assert pearson_r([1, 2, 3], [2, 0, 1]) == pytest.approx(-0.5, abs=1e-15)  # y reversed: sign kept
    # Weights 2,1,1 = the first row twice: x = 1,1,2,3, y = 1,1,3,2, means 7/4 ->
    # Sxy = 2(9/16) + 5/16 + 5/16 = 28/16, Sxx = Syy = 44/16 -> r = 7/11.
    assert pearson_r([1, 2, 3], [1, 3, 2], weights=[2, 1, 1]) == pytest.approx(7 / 11, abs=1e-15)
    # Ties share their mean rank: x ranks 1, 2.5, 2.5, 4; y ranks 1..4 -> Sxy = 4.5, Sxx = 4.5,
    # Syy = 5 -> rho = 4.5 / sqrt(22.5) = sqrt(0.9).
    assert spearman_rho([10, 20, 20, 30], [1, 2, 3, 4]) == pytest.approx(math.sqrt(0.9), abs=1e-15)
    assert spearman_rho([3, 2, 1], [1, 5, 9]) == pytest.approx(-1.0)
    for x, y, w in (([1.0], [2.0], None), ([1, 2, 3], [1, 1, 1], None), ([1, 2, 3], [1, 3, 2], [1, 0, 0]),
                    ([1, 2, 3], [1, 3, 2], [0, 0, 0]), ([], [], None)):
        assert math.isnan(pearson_r(x, y, w)), (x, y, w)
    assert pearson_r([1, 2], [5, 1], weights=[1, 1]) == pytest.approx(-1.0)  # two rows are enough
    for function in (pearson_r, spearman_rho):
        with pytest.raises(ValueError, match="shapes differ"):
            function([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="2 weights for 3 rows"):
        pearson_r([1, 2, 3], [1, 2, 3], weights=[1, 1])
    with pytest.raises(ValueError, match="finite and >= 0"):
        pearson_r([1, 2, 3], [1, 2, 3], weights=[1, -1, 1])


def test_correlation_messages_column_weights_and_the_bounds_of_r():
    for x, y, weights, message in (
            (np.ones(3), np.ones(2), None, "correlation: shapes differ (3,) vs (2,)"),
            (np.ones(3), np.ones(3), np.ones(2), "correlation: 2 weights for 3 rows"),
            (np.ones(3), np.ones(3), [1, np.nan, 1], "correlation: weights must be finite and >= 0")):
        with pytest.raises(ValueError) as error:
            CorrelationSums.of(x, y, weights)
        assert str(error.value) == message
    # Weights as an [n, 1] column are the [n] weights 2, 1, 1: r = 7/11 (by hand above).
    column = CorrelationSums.of(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]), np.array([[2.0], [1.0], [1.0]]))
    assert column.weight == 4.0 and column.pearson()[0] == pytest.approx(7 / 11, abs=1e-15)
    # y = +-0.3 x exactly in proportion: r = +-1. Unclipped, rounding gives 1 + 2^-52 here, and a
    # correlation is never outside [-1, 1].
    x = np.array([3.0, 3.0, 1.0])
    assert pearson_r(x, 0.3 * x) == 1.0 and pearson_r(x, -0.3 * x) == -1.0


def test_weighted_spearman_by_hand():
    # Ranks of x = 1,2,3,4 and y = 1,3,2,4, weighted 1,0,2,1: weighted Pearson r of the ranks.
    weights = np.array([1.0, 0.0, 2.0, 1.0])
    expected = np.cov([1, 2, 3, 4], [1, 3, 2, 4], aweights=weights)
    assert spearman_rho([10, 20, 30, 40], [5, 7, 6, 9], weights) == pytest.approx(
        expected[0, 1] / np.sqrt(expected[0, 0] * expected[1, 1]))


def test_correlation_sums_by_hand():
    sums = CorrelationSums.of(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0]), np.array([2.0, 1.0, 1.0]))
    assert sums.count == 3 and sums.weight == 4.0
    np.testing.assert_allclose([sums.mean_x[0], sums.mean_y[0], sums.m2_x[0], sums.m2_y[0], sums.c_xy[0]],
                               [7 / 4, 7 / 4, 44 / 16, 44 / 16, 28 / 16], rtol=1e-15)
    zero_weight = CorrelationSums.of(np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert zero_weight.count == 1 and zero_weight.weight == 1.0
    # Merging: rows {1, 2} and {3} give the three-row statistics (means 2, 2; Sxx 2, Syy 2, Sxy 1).
    merged = CorrelationSums.of(np.array([1.0, 2.0]), np.array([1.0, 3.0])).merge(
        CorrelationSums.of(np.array([3.0]), np.array([2.0])))
    assert merged.count == 3 and merged.weight == 3.0
    np.testing.assert_allclose([merged.mean_x[0], merged.mean_y[0], merged.m2_x[0], merged.m2_y[0], merged.c_xy[0]],
                               [2, 2, 2, 2, 1], rtol=1e-15, atol=1e-15)
    empty = CorrelationSums()
    assert empty.merge(merged) is merged and merged.merge(empty) is merged
    with pytest.raises(ValueError, match="1 vs 2 columns"):
        merged.merge(CorrelationSums.of(np.ones((2, 2)), np.arange(4.0).reshape(2, 2)))


def test_mean_track_pearson_by_hand():
    # [examples 2, bins 3, tracks 2]. Track 0 of example 0 is the 1,2,3 / 1,3,2 pair (r = 1/2);
    # weight 0 on example 1 leaves only it. Track 1 is constant in the labels: undefined, skipped.
    labels = np.array([[[1, 5], [2, 5], [3, 5]], [[9, 5], [0, 5], [4, 5]]], np.float64)
    predictions = np.array([[[1, 1], [3, 2], [2, 3]], [[0, 1], [9, 2], [1, 3]]], np.float64)
    assert mean_track_pearson(labels, predictions, weights=[1, 0]) == pytest.approx(0.5, abs=1e-15)
    assert mean_of_tracks(np.array([np.nan, 0.5, 0.1])) == pytest.approx(0.3)
    assert math.isnan(mean_of_tracks(np.array([np.nan, np.nan]))) and math.isnan(mean_of_tracks(np.array([])))
    with pytest.raises(ValueError, match="shapes differ"):
        mean_track_pearson(labels, predictions[:1])
    # [N, tracks] rows: one weight per row (the weight-0 row drops out, leaving r = 1/2).
    assert mean_track_pearson([[1], [2], [3], [9]], [[1], [3], [2], [0]], weights=[1, 1, 1, 0]) == pytest.approx(0.5)


# ------------------------------------------------------------------------- prediction averaging
PREDICTION_WINDOW = 256  # two 128 bp bins


def counting_predictor(head_columns, activity: bool = True):
    """A transparent model: ``activity`` = G+C fraction of the window (left out with
    ``activity=False``); ``mouse`` = per-bin base counts (A, C, G, T columns). Expected outputs
    are then counted straight from the sequence."""
    import tensorflow as tf

    from trainer.predict.predictor import Predictor

    def model(one_hot):
        bins = tf.reduce_sum(tf.reshape(one_hot, [-1, PREDICTION_WINDOW // 128, 128, 4]), axis=2)
        return {"activity": tf.reduce_sum(one_hot[:, :, 1:3], axis=[1, 2]) / PREDICTION_WINDOW, "mouse": bins}

    outputs, n_tracks = {"mouse": head_columns}, {"mouse": 4}
    if activity:
        outputs, n_tracks = {"activity": None, **outputs}, {"activity": 1, **n_tracks}
    return Predictor(model, PREDICTION_WINDOW, outputs, n_tracks, "counting model")


def _bin_counts(sequence: str, base: str) -> list:
    return [sequence[b * 128:(b + 1) * 128].upper().count(base) for b in range(len(sequence) // 128)]


def test_window_offsets_and_site_peaks_by_hand():
    from trainer.predict.payloads import Site, site_peaks, window_offsets

    assert window_offsets(10, 4, 2, 10, 0, "p").tolist() == [0, 2, 4, 6]  # a count above n keeps all
    assert window_offsets(10, 4, 3, 3, 0, "p").tolist() == [0, 3, 6]
    assert window_offsets(10, 4, 3, 1.0, 0, "p").size == 1  # a sample of 1 is a count (one offset), not 100 %
    assert window_offsets(4, 4, 1, 1, 0, "p").tolist() == [0]
    for sample, kept in ((0.5, 2), (0.1, 1), (0.99, 3), (2, 2), (3, 3)):  # floor(4 x 0.5) = 2; at least 1
        offsets = window_offsets(10, 4, 2, sample, 5, "p")
        assert offsets.size == kept and set(offsets.tolist()) <= {0, 2, 4, 6} and list(offsets) == sorted(offsets)
    picks = {tuple(window_offsets(200, 4, 1, 1, seed, "p").tolist()) for seed in range(8)}
    assert len(picks) > 1, "the seed draws the offsets"
    assert window_offsets(10, 4, 1, 100, 0, "p").tolist() == [0, 1, 2, 3, 4, 5, 6]  # the last start is 10 - 4
    # Seeded by (seed, name): the same draw every time, another for another name.
    draws = {name: window_offsets(1000, 4, 1, 5, 7, name).tolist() for name in ("p", "q")}
    assert window_offsets(1000, 4, 1, 5, 7, "p").tolist() == draws["p"] != draws["q"]
    with pytest.raises(InputError, match="payload p: construct of 3 bp is shorter than the 4 bp window"):
        window_offsets(3, 4, 1, 1, 0, "p")
    with pytest.raises(InputError, match="--stride must be >= 1, got 0"):
        window_offsets(10, 4, 0, 1, 0, "p")
    # A window at offset 128 with bins [1, 5, 2, 7] covers [128, 640); bin j = [128 + 128j, 256 + 128j).
    track = np.array([1.0, 5.0, 2.0, 7.0])
    sites = [Site("bin0", 128, 256), Site("bins12", 300, 400), Site("before", 0, 100), Site("last", 600, 1000),
             Site("bins01", 128, 384), Site("bin1", 256, 300), Site("touching", 0, 128)]
    assert site_peaks(track, 128, sites).tolist() == [1.0, 5.0, 0.0, 7.0, 5.0, 5.0, 0.0]
    assert site_peaks(track, 0, [Site("s", 10, 20)], bin_size=10).tolist() == [5.0]  # bin 1 = [10, 20)


def test_payload_table_parsing_by_hand(tmp_path):
    from trainer.predict.payloads import Site, parse_annotation, parse_sample, read_dataset_table

    assert parse_annotation("a:1-5; b:c:10-20;", "t:2") == (Site("a", 1, 5), Site("b:c", 10, 20))
    assert parse_annotation("", "t:2") == ()
    for bad in ("a:5-5", "a:5-4", ":1-2", "a:x-2", "a1-2"):
        with pytest.raises(InputError, match="t:2: annotation"):
            parse_annotation(bad, "t:2")
    assert parse_sample("0.25") == 0.25 and parse_sample("3") == 3.0
    with pytest.raises(InputError, match="--sample must be > 0"):
        parse_sample("0")
    with pytest.raises(InputError, match="expected a ratio"):
        parse_sample("half")
    table = tmp_path / "t.tsv"
    table.write_text("index\tname\tgroup\tfold\tactivity\tannotation\tsequence\n0\tP\tg\ttrain\t1.5\ts:1-3\tacGTn\n\n")
    (row,) = read_dataset_table(str(table))
    assert (row.index, row.name, row.group, row.fold, row.activity, row.sites) == ("0", "P", "g", "train", 1.5, (Site("s", 1, 3),))
    assert row.codes.tolist() == [0, 1, 2, 3, 4]
    for text, message in (("index\tname\n", "not a make-dataset table: missing column"),
                          (table.read_text().replace("1.5", "high"), ":2: activity 'high' is not a number"),
                          (table.read_text().replace("\tacGTn", ""), ":2: expected 7 columns, got 6")):
        table.write_text(text)
        with pytest.raises(InputError, match=message):
            list(read_dataset_table(str(table)))




def test_payload_table_columns_blank_lines_and_error_places(tmp_path):
    from trainer.predict.payloads import Site, read_dataset_table

    table = tmp_path / "t.tsv"
    # Any column order; a blank line between rows; empty annotations are empty TAB fields (not
    # collapsed whitespace); the last field is read up to the line end, an X included (-> N).
    table.write_text("sequence\tindex\tname\tgroup\tfold\tactivity\tannotation\n"
                     "acgX\t0\tP\tg\ttrain\t1\t\n\n"
                     "T\t1\tQ\tg\tvalid\t2\ts:0-1\r\n")
    rows = list(read_dataset_table(str(table)))
    assert [(r.index, r.name, r.fold, r.activity, r.sites, r.codes.tolist()) for r in rows] == [
        ("0", "P", "train", 1.0, (), [0, 1, 2, 4]), ("1", "Q", "valid", 2.0, (Site("s", 0, 1),), [3])]
    table.write_text("index\tname\tgroup\tfold\tactivity\tannotation\tsequence\n0\tP\tg\ttrain\t1\t\tCAX\n")
    assert next(read_dataset_table(str(table))).codes.tolist() == [1, 0, 4]  # a last column ending in X keeps it
    table.write_text("index\tname\tgroup\tfold\tactivity\tannotation\tsequence\n0\tP\tg\ttrain\t1\ts:5-5\tA\n")
    with pytest.raises(InputError, match=f"^{table}:2: annotation 's:5-5': expected 'site:start-end'"):
        list(read_dataset_table(str(table)))
    table.write_text("index name group fold activity annotation sequence\n")
    with pytest.raises(InputError, match=f"^{table}:1: the header is not TAB-separated"):
        list(read_dataset_table(str(table)))
    table.write_text("index\tname\n")
    with pytest.raises(InputError) as error:
        list(read_dataset_table(str(table)))
    assert str(error.value) == (f"{table}: not a make-dataset table: missing column(s) group, fold, activity, "
                                "annotation, sequence (expected index name group fold activity annotation sequence)")

def test_dataset_table_path_file_artifact_and_error(tmp_path):
    from trainer.predict.payloads import dataset_table_path

    table = tmp_path / "t.tsv"
    table.write_text("x")
    assert dataset_table_path(str(table)) == str(table)  # a file is the table itself
    artifact = tmp_path / "Split-train"
    artifact.mkdir()
    with pytest.raises(InputError) as error:
        dataset_table_path(str(artifact))
    assert str(error.value) == (f"{artifact}: a directory without dataset.tsv; pass the make-dataset table (TSV) "
                                "or a payload Examples artifact written by PayloadExampleGen")
    (artifact / "dataset.tsv").write_text("x")
    assert dataset_table_path(str(artifact)) == str(artifact / "dataset.tsv")

def test_predict_payloads_by_hand():
    from trainer.predict.payloads import PayloadRow, Site, correlations, predict_payloads, summary_lines

    rng = np.random.default_rng(0)
    sequence = genome.decode_codes(rng.integers(0, 4, 260))
    row = PayloadRow("3", "P", "g", "train,eval", 2.0, (Site("s1", 0, 128), Site("s2", 130, 140)),
                     genome.encode_sequence(sequence))
    lines: list = []
    (summary,) = predict_payloads(counting_predictor([0]), iter([row]), lines.append, head="mouse", track=0,
                                  stride=2, sample=10, seed=0)
    # Offsets 0, 2, 4 (construct 260, window 256, stride 2); per offset: the G+C fraction, and per
    # site the largest A count of the bins that overlap it.
    expected_activity, expected_peaksum = [], []
    for line, offset in zip(lines[1:], (0, 2, 4)):
        window = sequence[offset:offset + 256]
        a_counts = _bin_counts(window, "A")
        peaks = [max((a_counts[j] for j in range(2) if site.start < offset + 128 * (j + 1) and site.end > offset + 128 * j),
                     default=0) for site in row.sites]
        gc = (window.count("G") + window.count("C")) / 256
        fields = line.rstrip("\n").split("\t")
        assert fields[:6] == ["3", "P", "g", "train,eval", str(offset), "2"]
        assert float(fields[6]) == pytest.approx(gc, abs=1e-6) and fields[8] == f"s1={peaks[0]:.6g};s2={peaks[1]:.6g}"
        assert float(fields[7]) == sum(peaks)
        expected_activity.append(gc)
        expected_peaksum.append(sum(peaks))
    assert lines[0] == "index\tname\tgroup\tfold\toffset\tactivity\tpredicted\tpeaksum\tpeak\n" and len(lines) == 4
    assert summary.offsets == 3 and summary.predicted == pytest.approx(np.mean(expected_activity), abs=1e-6)
    assert summary.peaksum == np.mean(expected_peaksum) and row.codes.size == 0
    assert summary_lines([summary]) == ["index\tname\tgroup\tfold\tactivity\toffsets\tpredicted\tpeaksum\n",
                                        f"3\tP\tg\ttrain,eval\t2\t3\t{summary.predicted:.6g}\t{summary.peaksum:.6g}\n"]
    # Without the head, peaks are NaN ("nan" in the table); correlations skip NaN measures.
    row.codes = genome.encode_sequence(sequence)
    lines.clear()
    (no_head,) = predict_payloads(counting_predictor([0]), iter([row]), lines.append, head=None, track=0,
                                  stride=4, sample=1, seed=0)
    assert lines[1].rstrip("\n").split("\t")[7:] == ["nan", ""] and math.isnan(no_head.peaksum)
    row.codes = genome.encode_sequence(sequence)
    lines.clear()
    predict_payloads(counting_predictor([0]), iter([row]), lines.append, head="human", track=0, stride=4, sample=1, seed=0)
    assert lines[1].rstrip("\n").split("\t")[7:] == ["nan", ""]  # a head the model does not have: no peaks either
    other = PayloadRow("4", "Q", "g", "eval", 5.0, (), np.empty(0, np.uint8))
    from trainer.predict.payloads import PayloadSummary

    summaries = [summary, PayloadSummary(other, 1, summary.predicted + 1, float("nan")),
                 PayloadSummary(PayloadRow("5", "R", "g", "eval", 4.0, (), np.empty(0, np.uint8)), 1, 0.0, 1.0)]
    table = {(c["fold"], c["measure"]): c for c in correlations(summaries)}
    # predicted vs activity over all three: (p, p + 1, 0) vs (2, 5, 4); peaksum only where finite.
    predicted = [summary.predicted, summary.predicted + 1, 0.0]
    assert table["all", "predicted"]["n"] == 3
    assert table["all", "predicted"]["pearson_r"] == pytest.approx(np.corrcoef(predicted, [2, 5, 4])[0, 1])
    assert table["all", "peaksum"]["n"] == 2 and table["eval", "predicted"]["n"] == 3
    assert table["train", "predicted"]["n"] == 1 and ("train", "peaksum") in table
    ranks = [[2, 3, 1], [1, 3, 2]]  # spearman: Pearson r of the ranks of predicted and of (2, 5, 4)
    assert table["all", "predicted"]["spearman_rho"] == pytest.approx(np.corrcoef(ranks)[0, 1])
    # A measure without a finite value is skipped; the next measure is still reported.
    no_prediction = PayloadSummary(other, 1, float("nan"), 3.0)
    assert [(c["measure"], c["n"]) for c in correlations([no_prediction, no_prediction])
            if c["fold"] == "all"] == [("peaksum", 2)]


def test_predict_payloads_both_strands_and_a_model_without_activity_by_hand():
    from trainer.predict.payloads import PayloadRow, Site, predict_payloads

    rng = np.random.default_rng(2)
    sequence = genome.decode_codes(rng.integers(0, 4, 260))
    sites = (Site("s1", 0, 128), Site("s2", 130, 140))
    row = PayloadRow("0", "P", "g", "train", 1.0, sites, genome.encode_sequence(sequence))
    lines: list = []
    (summary,) = predict_payloads(counting_predictor([0], activity=False), iter([row]), lines.append, head="mouse",
                                  track=0, stride=4, sample=10, seed=0, reverse_complement=True)
    # Offsets 0 and 4 (260 - 256 = 4, stride 4). Both strands: the reverse strand's A count of a bin is
    # the forward T count of the same bases, so track 0 is (A + T) / 2 per bin. No activity output: nan.
    peaksums = []
    for line, offset in zip(lines[1:], (0, 4)):
        window = sequence[offset:offset + 256]
        mean_counts = [(a + t) / 2 for a, t in zip(_bin_counts(window, "A"), _bin_counts(window, "T"))]
        peaks = [max(mean_counts[j] for j in range(2) if site.start < offset + 128 * (j + 1) and site.end > offset + 128 * j)
                 for site in sites]
        assert line.rstrip("\n").split("\t")[4:] == [str(offset), "1", "nan", f"{sum(peaks):.6g}",
                                                      f"s1={peaks[0]:.6g};s2={peaks[1]:.6g}"]
        peaksums.append(sum(peaks))
    assert len(lines) == 3 and summary.offsets == 2 and math.isnan(summary.predicted)
    assert summary.peaksum == pytest.approx(np.mean(peaksums), abs=1e-12)


def test_predict_regions_averages_shifts_and_strands_by_hand(tmp_path):
    from components.signal_output import RegionTiles, tile_region
    from trainer.predict.regions import predict_regions, region_windows, stride_shifts

    assert [stride_shifts(n).tolist() for n in (1, 2, 3, 4)] == [[0], [-1, 0], [-1, 0, 1], [-2, -1, 0, 1]]
    with pytest.raises(InputError, match="--strides must be >= 1, got 0"):
        stride_shifts(0)
    records = [BedRecord("c", 1000, 1100, "r1", 1), BedRecord("c", 300, 600, "", 2), BedRecord("z", 0, 10, "gone", 3)]
    # Own span: [300, 600) needs ceil(300 / 256) = 2 windows, 512 bp centred: [194, 706); its bins of
    # 128 bp overlapping the region are 0..3 (194-322 ... 578-706), the row starts at 194.
    assert tile_region(300, 600, 256, 128) == RegionTiles(194, 2, 0, 4, 194)
    # [1000, 1100): one window [922, 1178); bins 0 and 1 overlap (922-1050, 1050-1178).
    assert tile_region(1000, 1100, 256, 128) == RegionTiles(922, 1, 0, 2, 922)
    # [1000, 1010) in 64 bp bins: window [877, 1133); bins 1 and 2 (941-1005, 1005-1069) overlap.
    assert tile_region(1000, 1010, 256, 64) == RegionTiles(877, 1, 1, 2, 941)
    # Fixed fragments (the original layout): every bin of 2 x 256 bp centred on the region.
    assert tile_region(1000, 1100, 256, 128, fragments=2) == RegionTiles(794, 2, 0, 4, 794)

    rng = np.random.default_rng(1)
    sequence = genome.decode_codes(rng.integers(0, 4, 3000))
    path = str(tmp_path / "ref.fa")
    genome.write_fasta(path, [("c", sequence)])
    with genome.ReferenceGenome(path) as reference:
        windows = region_windows(reference, "c", 10, 4, 2, np.array([-1, 0, 1]))
        assert [genome.decode_codes(w) for w in windows] == [sequence[s:s + 4] for s in (9, 10, 11, 13, 14, 15)]
        past_end = region_windows(reference, "c", 2993, 4, 2, np.array([0]))  # ends at 3001: N-padded
        assert [genome.decode_codes(w) for w in past_end] == [sequence[2993:2997], sequence[2997:3000] + "N"]
        output = str(tmp_path / "out.npy")
        result = predict_regions(counting_predictor([0, 3]), reference, records, output, "mouse", strides=3,
                                 reverse_complement=True, batch=4, fragments=2)
        array = np.load(output)
        activity_output = str(tmp_path / "activity.npy")
        predict_regions(counting_predictor([0, 3]), reference, records, activity_output, "activity", strides=2,
                        fragments=2)
        activity = np.load(activity_output)
    assert result.n_regions == 3 and result.n_ok == 2 and result.failed_rows == [2] and result.failed[0][0] == "gone"
    assert [t.windows for t in result.tiles] == [2, 2, 2] and result.step == 128
    assert array.shape == (3, 4, 2) and activity.shape == (3, 2, 1)
    assert np.isnan(array[2]).all() and np.isnan(activity[2]).all()
    # Region [1000, 1100) centred in 512 bp: start 1000 - (512 - 100) // 2 = 794; [300, 600): 300 - 106 = 194.
    for row, window_start in ((0, 794), (1, 194)):
        expected, expected_activity = [], []
        for fragment in range(2):
            forward_a, forward_t, gc = [], [], []
            for shift in (-1, 0, 1):  # strides 3; the reverse strand's A (T) count is the forward T (A) count
                start = window_start + fragment * 256 + shift
                window = sequence[start:start + 256]
                forward_a.append(_bin_counts(window, "A"))
                forward_t.append(_bin_counts(window, "T"))
            both = (np.mean(forward_a, axis=0) + np.mean(forward_t, axis=0)) / 2  # strand mean, same for A and T
            expected.extend([[b, b] for b in both])
            for shift in (-1, 0):  # strides 2
                start = window_start + fragment * 256 + shift
                window = sequence[start:start + 256]
                gc.append((window.count("G") + window.count("C")) / 256)
            expected_activity.append([np.mean(gc)])
        np.testing.assert_allclose(array[row], expected, rtol=1e-6)
        np.testing.assert_allclose(activity[row], expected_activity, rtol=1e-6)


def test_predict_regions_forward_strand_keeps_bin_order(tmp_path):
    from trainer.predict.regions import predict_regions

    sequence = "A" * 128 + "T" * 128 + "ACGT" * 64
    path = str(tmp_path / "ref.fa")
    genome.write_fasta(path, [("c", sequence)])
    with genome.ReferenceGenome(path) as reference:
        forward = predict_regions(counting_predictor([0, 3]), reference, [BedRecord("c", 0, 256, "", 1)],
                                  str(tmp_path / "f.npy"), "mouse")
        assert forward.shape == (1, 2, 2)
        np.testing.assert_array_equal(np.load(str(tmp_path / "f.npy"))[0], [[128, 0], [0, 128]])
        predict_regions(counting_predictor([0, 3]), reference, [BedRecord("c", 0, 256, "", 1)],
                        str(tmp_path / "rc.npy"), "mouse", reverse_complement=True)
        np.testing.assert_array_equal(np.load(str(tmp_path / "rc.npy"))[0], [[64, 64], [64, 64]])
        with pytest.raises(InputError, match="none of the 1 regions could be predicted; first failure: r"):
            predict_regions(counting_predictor([0]), reference, [BedRecord("c", 400, 700, "r", 1)],
                            str(tmp_path / "none.npy"), "mouse")
        assert not (tmp_path / "none.npy").exists()
        with pytest.raises(InputError, match="the BED file has no regions"):
            predict_regions(counting_predictor([0]), reference, [], str(tmp_path / "empty.npy"), "mouse")


def test_predict_regions_messages_progress_and_padding_by_hand(tmp_path):
    from trainer.predict.regions import fetch_padded, predict_regions

    path = str(tmp_path / "ref.fa")
    genome.write_fasta(path, [("c", "ACGT" * 150)])  # 600 bp
    records = [BedRecord("c", 500, 700, "", 1), BedRecord("c", 0, 256, "ok", 2), BedRecord("z", 0, 10, "gone", 3)]
    calls: list = []
    output = str(tmp_path / "out.npy")
    with genome.ReferenceGenome(path) as reference:
        assert fetch_padded(reference, "c", -2, 3).tolist() == [4, 4, 0, 1, 2]  # N before the chromosome
        assert fetch_padded(reference, "c", 598, 601).tolist() == [2, 3, 4]  # ... and after it
        assert fetch_padded(reference, "c", 600, 602).tolist() == [4, 4]  # wholly past the end
        assert fetch_padded(reference, "c", -3, -1).tolist() == [4, 4]  # wholly before the start
        assert fetch_padded(reference, "c", 5, 7).tolist() == [1, 2]
        assert fetch_padded(reference, "c", -1, 1).dtype == np.uint8  # codes, like fetch_codes
        # fragments=1 is a valid count; a failing region before a good one does not stop the loop.
        result = predict_regions(counting_predictor([0, 3]), reference, records, output, "mouse", fragments=1,
                                 progress=lambda done, total: calls.append((done, total)))
        assert calls == [(1, 3), (2, 3), (3, 3)]  # every region, failed ones too
        assert result.failed == [("c:501-700", f"region c:501-700: outside chromosome c (length 600) in {path}"),
                                 ("gone", f"region z:1-10: chromosome 'z' is not in {path} (has c)")]
        assert result.failed_rows == [0, 2] and result.n_ok == 1 and result.shape == (3, 2, 2)
        array = np.load(output)
        # The one window [0, 256) of ACGT repeats: 32 A and 32 T in each 128 bp bin.
        assert array.dtype == np.float32 and np.isnan(array[[0, 2]]).all()
        assert array[1].tolist() == [[32.0, 32.0], [32.0, 32.0]]
        # Every track (columns None): the A, C, G, T counts, 32 each.
        every = predict_regions(counting_predictor(None), reference, records[1:2], str(tmp_path / "all.npy"), "mouse")
        assert every.shape == (1, 2, 4) and np.load(str(tmp_path / "all.npy")).tolist() == [[[32.0] * 4] * 2]
        for kwargs, message in ((dict(fragments=0), "--fragments must be >= 1, got 0"),
                                (dict(fragments=-1), "--fragments must be >= 1, got -1")):
            with pytest.raises(InputError) as error:
                predict_regions(counting_predictor([0]), reference, records, str(tmp_path / "f.npy"), "mouse", **kwargs)
            assert str(error.value) == message
        with pytest.raises(InputError) as error:
            predict_regions(counting_predictor([0]), reference, [], str(tmp_path / "e.npy"), "mouse")
        assert str(error.value) == "the BED file has no regions"
        with pytest.raises(InputError) as error:
            predict_regions(counting_predictor([0]), reference, [records[0], records[2]], str(tmp_path / "n.npy"),
                            "mouse")
        assert str(error.value) == ("none of the 2 regions could be predicted; first failure: c:501-700: "
                                    f"region c:501-700: outside chromosome c (length 600) in {path}")
        assert not (tmp_path / "n.npy").exists()


def test_json_safe_writes_every_non_finite_number_as_null():
    import json

    from components.json_values import json_safe

    value = {"r": float("nan"), "values": [1.0, float("inf"), np.float32(2.5), -float("inf")],
             "pair": (np.float64("nan"), 3), "name": "x", "n": 38}
    safe = json_safe(value)
    assert safe == {"r": None, "values": [1.0, None, 2.5, None], "pair": [None, 3], "name": "x", "n": 38}
    assert type(safe["values"][2]) is float and type(safe["n"]) is int
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe  # strict JSON
