"""Genome I/O shared by the components, the trainer and the CLI.

One FASTA reader (streaming, for payload files), one indexed reference accessor (pyfaidx),
one BED reader, one region parser and one sequence encoder live here; nothing else in the
project parses these formats.

Sequence encoding (the record contract, :mod:`components.records`): uint8 codes ``A=0 C=1 G=2 T=3
N=4``, case-insensitive; any other character becomes 4 (N). One-hot encoding of the codes
(``[length, 4]``, A,C,G,T order, code 4 -> all-zero row) happens in the TensorFlow graph; the
NumPy twin :func:`one_hot` exists for tests and for tools that do not run TensorFlow.

Coordinates: BED files are 0-based half-open. Region strings ``chr:start-end`` follow the
samtools/UCSC convention (1-based, inclusive) and are converted to 0-based half-open
:class:`Region` objects on parsing, so ``chr3:11-20`` is ``Region('chr3', 10, 20)`` (10 bp).
"""
from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import re
import zlib
from typing import IO, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from components.errors import InputError

N_CODE = 4
ALPHABET = "ACGTN"

# Byte -> code lookup table: A/C/G/T in both cases map to 0..3, everything else to N.
_CODE_TABLE = np.full(256, N_CODE, dtype=np.uint8)
for _code, _base in enumerate("ACGT"):
    _CODE_TABLE[ord(_base)] = _code
    _CODE_TABLE[ord(_base.lower())] = _code
_COMPLEMENT_CODE = np.array([3, 2, 1, 0, N_CODE], dtype=np.uint8)
_VALID_SEQUENCE_CHARS = re.compile(r"^[ACGTNacgtn]*$")


def encode_sequence(sequence: str) -> np.ndarray:
    """Encode a DNA string as uint8 codes.

    Args:
      sequence: DNA string of length L, any case.
    Returns:
      ``[L]`` uint8 array, A=0 C=1 G=2 T=3, anything else (N, IUPAC, gaps) = 4.
    """
    return _CODE_TABLE[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def decode_codes(codes: np.ndarray) -> str:
    """Inverse of :func:`encode_sequence` for codes 0..4 (returns upper case)."""
    return np.frombuffer(ALPHABET.encode(), dtype=np.uint8)[np.asarray(codes, dtype=np.uint8)].tobytes().decode()


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of ``[..., L]`` uint8 codes along the last axis (N stays N)."""
    return _COMPLEMENT_CODE[np.asarray(codes, dtype=np.uint8)[..., ::-1]]


def one_hot(codes: np.ndarray) -> np.ndarray:
    """``[..., L]`` uint8 codes -> ``[..., L, 4]`` float32 one-hot; code 4 (N) -> zero row."""
    return np.eye(5, 4, dtype=np.float32)[np.asarray(codes, dtype=np.uint8)]


def window_views(codes: np.ndarray, starts: Sequence[int], length: int) -> np.ndarray:
    """``[..., L]`` codes -> ``[..., S, length]``: the windows ``codes[..., s:s + length]`` for ``s`` in ``starts``.

    A copy (the windows overlap; a strided view would alias). Every window must lie inside the
    sequence: ``0 <= s <= L - length``, else ValueError (fancy indexing would wrap negatives).
    """
    codes = np.asarray(codes)
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    if length < 1 or length > codes.shape[-1]:
        raise ValueError(f"window of {length} bp does not fit a sequence of {codes.shape[-1]} bp")
    if starts.size and (starts.min() < 0 or starts.max() > codes.shape[-1] - length):
        raise ValueError(f"window starts {starts.min()}..{starts.max()} leave the {codes.shape[-1]} bp sequence "
                         f"(windows of {length} bp)")
    return np.lib.stride_tricks.sliding_window_view(codes, length, axis=-1)[..., starts, :]


def is_plain_dna(sequence: str) -> bool:
    """True when ``sequence`` holds only A, C, G, T, N (any case)."""
    return bool(_VALID_SEQUENCE_CHARS.match(sequence))


@dataclasses.dataclass(frozen=True, order=True)
class Region:
    """A genomic interval, 0-based half-open."""

    chrom: str
    start: int
    end: int
    name: str = ""

    @property
    def length(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:  # samtools style, 1-based inclusive
        return f"{self.chrom}:{self.start + 1}-{self.end}"


_REGION_RE = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")
REGION_PATTERN = _REGION_RE  # public: tells a region argument from a file name


def parse_region(text: str) -> Region:
    """Parse ``chr:start-end`` (1-based inclusive, commas allowed) into a 0-based Region."""
    match = _REGION_RE.match(text.strip())
    if not match:
        raise InputError(f"region {text!r}: expected 'chrom:start-end', e.g. chr3:34732778-34772706")
    start = int(match["start"].replace(",", "")) - 1
    end = int(match["end"].replace(",", ""))
    if start < 0 or end <= start:
        raise InputError(f"region {text!r}: start must be >= 1 and end > start")
    return Region(match["chrom"], start, end)


@dataclasses.dataclass(frozen=True)
class BedRecord:
    """One BED line: 0-based half-open interval plus optional name."""

    chrom: str
    start: int
    end: int
    name: str
    line: int  # 1-based line number in the file, for error messages
    strand: str = "."  # column 6 when present ('+', '-' or '.')

    @property
    def region(self) -> Region:
        return Region(self.chrom, self.start, self.end, self.name)


def read_bed(path: str, require_name: bool = False,
             empty_intervals: Optional[List[str]] = None) -> Iterator[BedRecord]:
    """Stream BED records from ``path`` (plain text; ``track``/``browser``/``#`` lines skipped).

    Raises :class:`InputError` naming ``path:line`` for malformed lines (too few columns,
    non-integer coordinates, missing name when required). Lines with a negative start or
    ``start >= end`` raise too, unless ``empty_intervals`` is a list: then they are skipped and
    described there (``"path:line name"``) for the caller to warn about.
    """
    needed = 4 if require_name else 3
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.rstrip("\n\r")
            if not text.strip() or text.startswith(("#", "track", "browser")):
                continue
            fields = text.split("\t") if "\t" in text else text.split()
            where = f"{path}:{line_number}"
            if len(fields) < needed:
                raise InputError(f"{where}: expected at least {needed} BED columns, got {len(fields)}: {text!r}")
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise InputError(f"{where}: start/end must be integers, got {fields[1]!r}, {fields[2]!r}") from None
            if start < 0 or start >= end:
                if empty_intervals is None:
                    raise InputError(f"{where}: need 0 <= start < end, got start={start} end={end}")
                empty_intervals.append(f"{where} {fields[3] if len(fields) > 3 else ''}".rstrip())
                continue
            yield BedRecord(
                chrom=fields[0],
                start=start,
                end=end,
                name=fields[3] if len(fields) > 3 else "",
                line=line_number,
                strand=fields[5] if len(fields) > 5 else ".",
            )


GZIP_MAGIC = b"\x1f\x8b"


def is_gzipped(path: str) -> bool:
    """True when the local file ``path`` starts with the gzip magic bytes (gzip or bgzip)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


@contextlib.contextmanager
def open_text(path: str) -> Iterator[IO[str]]:
    """Open a local or remote (gs://) text file for reading; gzip/bgzip files are decompressed.

    Compression is recognised by content (the gzip magic bytes), not by name. Use as a context
    manager: a file that is not UTF-8 text, or a truncated/corrupt gzip stream, raises
    :class:`InputError` naming ``path`` instead of a decoding traceback.
    """
    if "://" in path:
        import tensorflow as tf  # only remote paths need TensorFlow's filesystem layer

        handle = tf.io.gfile.GFile(path, "r")
    elif not os.path.exists(path):
        raise InputError(f"{path}: file not found")
    elif os.path.isdir(path):
        raise InputError(f"{path}: is a directory, expected a file")
    elif is_gzipped(path):
        handle = gzip.open(path, "rt", encoding="utf-8")
    else:
        handle = open(path, "r", encoding="utf-8")
    try:
        with handle:
            yield handle
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text (byte {error.object[error.start:error.start + 1]!r}); "
                         "expected plain or gzip-compressed text") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise InputError(f"{path}: corrupt or truncated gzip data ({error})") from None


def tab_header(text: str, required: Sequence[str], where: str) -> List[str]:
    """Split a TAB-separated header line; a header that only has ``required`` when split on spaces
    raises :class:`InputError` saying the header is not TAB-separated (instead of listing every
    column as missing)."""
    header = [name.strip() for name in text.rstrip("\n\r").split("\t")]
    if "\t" not in text and any(name not in header for name in required):
        spaced = text.split()
        if sum(name in spaced for name in required) > len(required) // 2:
            raise InputError(f"{where}: the header is not TAB-separated (columns must be separated by "
                             f"TAB characters, found spaces): {text.strip()!r}")
    return header


def iter_fasta(path: str) -> Iterator[Tuple[str, str, int]]:
    """Stream ``(name, sequence, header_line_number)`` from a FASTA file (plain, gzip or bgzip).

    The name is the header up to the first whitespace. Sequence lines are concatenated with
    their case preserved. Raises :class:`InputError` on sequence data before any header and on
    a file without any record. :func:`fasta_line_of` turns a sequence position back into a line.
    """
    name: Optional[str] = None
    header_line = 0
    chunks: List[str] = []
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith(">"):
                if name is not None:
                    yield name, "".join(chunks), header_line
                fields = text[1:].split()
                if not fields:
                    raise InputError(f"{path}:{line_number}: FASTA header without a name")
                name, header_line, chunks = fields[0], line_number, []
            elif name is None:
                raise InputError(f"{path}:{line_number}: sequence data before the first '>' header")
            else:
                chunks.append(text)
    if name is not None:
        yield name, "".join(chunks), header_line
    else:
        raise InputError(f"{path}: no records (empty FASTA: no '>' header line)")


def fasta_line_of(path: str, header_line: int, position: int) -> Tuple[int, int]:
    """``(line, column)`` (1-based) of 0-based ``position`` in the record whose header is on
    ``header_line`` (as yielded by :func:`iter_fasta`). Re-reads the file: for error messages only."""
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if line_number <= header_line:
                continue
            text = line.strip()
            if position < len(text):
                return line_number, position + 1
            position -= len(text)
    return header_line, 0


def write_fasta(path: str, records: Iterable[Tuple[str, str]], line_width: int = 60, index: bool = True,
                index_path: Optional[str] = None) -> None:
    """Write ``(name, sequence)`` records as FASTA with fixed line width; optionally build the index
    (``index_path``, default ``path + '.fai'``)."""
    with open(path, "w", encoding="ascii") as handle:
        for name, sequence in records:
            handle.write(f">{name}\n")
            for offset in range(0, len(sequence), line_width):
                handle.write(sequence[offset : offset + line_width])
                handle.write("\n")
    if index:
        import pyfaidx

        pyfaidx.Faidx(path, indexname=index_path).close()


class ReferenceGenome:
    """Random access to an indexed reference FASTA, plain or bgzip (pyfaidx; builds ``.fai``, and
    ``.gzi`` for bgzip, when missing).

    Use as a context manager or call :meth:`close`. Fetches return the sequence with its case
    as stored (soft-masking preserved); encode with :func:`encode_sequence`.
    """

    def __init__(self, path: str):
        import pyfaidx

        if not os.path.exists(path):
            raise InputError(f"{path}: reference FASTA not found")
        if is_gzipped(path):
            check_compressed_reference(path)
        try:
            self._fasta = pyfaidx.Fasta(path, as_raw=True, sequence_always_upper=False, rebuild=False)
        except Exception as error:  # pyfaidx raises several types for malformed files
            raise InputError(f"{path}: cannot index reference FASTA: {error}") from error
        self.path = path
        self._sizes: Dict[str, int] = {name: len(record) for name, record in self._fasta.records.items()}

    def __enter__(self) -> "ReferenceGenome":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._fasta.close()

    @property
    def chrom_sizes(self) -> Dict[str, int]:
        """``{chrom: length}`` in FASTA order."""
        return dict(self._sizes)

    def check_interval(self, chrom: str, start: int, end: int, what: str = "interval") -> None:
        """Raise :class:`InputError` unless ``chrom:start-end`` (0-based) lies inside the genome."""
        if chrom not in self._sizes:
            known = ", ".join(list(self._sizes)[:8])
            raise InputError(f"{what} {chrom}:{start + 1}-{end}: chromosome {chrom!r} is not in {self.path} (has {known})")
        if start < 0 or end > self._sizes[chrom] or start >= end:
            raise InputError(
                f"{what} {chrom}:{start + 1}-{end}: outside chromosome {chrom} (length {self._sizes[chrom]}) in {self.path}"
            )

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``[start, end)`` (0-based half-open) on ``chrom``, case as stored."""
        self.check_interval(chrom, start, end)
        return str(self._fasta[chrom][start:end])

    def fetch_codes(self, chrom: str, start: int, end: int) -> np.ndarray:
        """``[end - start]`` uint8 codes of ``[start, end)`` on ``chrom``."""
        return encode_sequence(self.fetch(chrom, start, end))


def is_bgzf(path: str) -> bool:
    """True when ``path`` starts with a BGZF block (bgzip output): gzip with the FEXTRA flag and a
    ``BC`` extra subfield (SAM specification, section 4.1)."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    return len(head) >= 18 and bool(head[3] & 4) and head[12:14] == b"BC"


def check_compressed_reference(path: str) -> None:
    """Raise :class:`InputError` unless the gzip-compressed reference ``path`` is bgzip (BGZF).

    pyfaidx reads BGZF at random positions (through Biopython's ``Bio.bgzf``, building the
    ``.fai`` and ``.gzi`` beside it when missing). A plain-gzip reference is refused rather than
    decompressed: a genome would be decompressed in full on every run, to memory or to disk.
    """
    if not is_bgzf(path):
        raise InputError(f"{path}: plain gzip reference FASTA cannot be read at random positions; compress it "
                         f"with bgzip instead (gunzip -c {path} | bgzip > NEW.fa.gz) or decompress it")


def read_chrom_sizes_from_fai(fasta_path: str) -> Dict[str, int]:
    """``{chrom: length}`` from ``<fasta>.fai`` (built if missing)."""
    with ReferenceGenome(fasta_path) as genome:
        return genome.chrom_sizes


def format_list(items: Sequence[str], limit: int = 5) -> str:
    """``'a, b, c'`` or ``'a, b, c, ... (12 in all)'`` for error messages."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items)} in all)"
