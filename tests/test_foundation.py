"""Environment smoke test and the synthetic demo data."""
from __future__ import annotations

import collections
import csv
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from components.genome import decode_codes, encode_sequence, iter_fasta, read_bed, reverse_complement_codes
from pipeline import demo_data as demo_generator
from pipeline.demo_data import MOTIFS, activity_from_sequence, generate_demo_data, motif_features


def test_pinned_stack_imports():
    import apache_beam
    import sonnet
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    import tfx.v1  # noqa: F401

    assert tf.__version__.startswith("2.16.")
    assert apache_beam.__version__ == "2.59.0"
    assert tfma.__version__ == "0.47.1"
    assert sonnet.__version__ == "2.0.2"


@pytest.mark.slow
def test_one_component_pipeline_with_beam_dag_runner(tmp_path):
    """ImportSchemaGen alone, run by BeamDagRunner with SQLite ML Metadata."""
    from ml_metadata.metadata_store import metadata_store
    from tfx import v1 as tfx
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    schema_file = tmp_path / "schema.pbtxt"
    schema_file.write_text('feature { name: "activity" type: FLOAT }\n')
    metadata_path = str(tmp_path / "metadata.sqlite")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="smoke",
        pipeline_root=str(tmp_path / "root"),
        components=[tfx.components.ImportSchemaGen(schema_file=str(schema_file))],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path),
    )
    BeamDagRunner().run(pipeline)

    store = metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
    executions = store.get_executions()
    assert len(executions) == 1
    schemas = store.get_artifacts_by_type("Schema")
    assert len(schemas) == 1
    assert os.path.exists(os.path.join(schemas[0].uri, "schema.pbtxt"))


def _tree_digest(directory: str) -> dict:
    digests = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                digests[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()
    return digests


@pytest.mark.slow
def test_demo_data_is_deterministic(tmp_path, demo_data):
    from tests.conftest import DEMO_SCALE, DEMO_SEED

    again = str(tmp_path / "again")
    generate_demo_data(again, seed=DEMO_SEED, scale=DEMO_SCALE)
    assert _tree_digest(again) == _tree_digest(demo_data)
    other = str(tmp_path / "other")
    generate_demo_data(other, seed=DEMO_SEED + 1, scale=DEMO_SCALE)
    assert _tree_digest(other)["reference.fa"] != _tree_digest(demo_data)["reference.fa"]


def test_demo_reference_and_bigwigs_are_valid(demo_data, demo_manifest):
    import pyBigWig
    import pyfaidx

    fasta = pyfaidx.Fasta(os.path.join(demo_data, "reference.fa"))
    sizes = {name: len(record) for name, record in fasta.records.items()}
    assert set(sizes) == {"chr3", "chr19", "chrX"}
    assert sum(sizes.values()) <= 2_000_000
    sequence = str(fasta["chr3"][:])
    assert set(sequence) <= set("ACGTacgtN") and any(c.islower() for c in sequence) and "N" in sequence
    gc = sum(sequence.upper().count(base) for base in "GC") / len(sequence.replace("N", ""))
    assert 0.38 < gc < 0.46  # mouse-like

    with open(os.path.join(demo_data, "tracks.tsv")) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert list(rows[0]) == ["index", "identifier", "file", "clip", "scale", "sum_stat", "description"]
    assert 3 <= len(rows) <= 5
    saw_nan = False
    for row in rows:
        bigwig = pyBigWig.open(os.path.join(demo_data, row["file"]))
        assert bigwig.chroms() == sizes
        for chrom, length in sizes.items():
            values = np.array(bigwig.values(chrom, 0, length))
            saw_nan |= bool(np.isnan(values[2000:]).any())
            assert np.nanmin(values) >= 0
        bigwig.close()
    assert saw_nan, "some tracks must have data-free (NaN) stretches"

    chrom, span = demo_manifest["context"].split(":")
    start, end = (int(x) for x in span.split("-"))
    for record in read_bed(os.path.join(demo_data, "mappable.bed")):
        assert record.end <= sizes[record.chrom]
        assert not (record.chrom == chrom and record.start < end and record.end > start - 1)


def test_demo_payload_table_formats(demo_data):
    with open(os.path.join(demo_data, "activity.tsv")) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert list(rows[0]) == ["MenDel.Name", "groups", "foldchange", "activity"]
    names = collections.Counter(row["MenDel.Name"] for row in rows)
    assert min(names.values()) >= 2, "replicate rows per payload"
    assert any(row["activity"] == "NA" for row in rows)
    assert len({row["groups"] for row in rows}) >= 4
    assert any("~" in name for name in names)

    payloads = {name: sequence for name, sequence, _ in iter_fasta(os.path.join(demo_data, "payloads.fa"))}
    assert {name.replace("~", "_") for name in names} == set(payloads)
    assert not any("~" in name for name in payloads)
    assert max(map(len, payloads.values())) > 26_880, "some payloads longer than the default construct"
    for record in read_bed(os.path.join(demo_data, "annotation.bed"), require_name=True):
        assert record.chrom in payloads and record.name  # column 4: the site label
        assert record.end <= len(payloads[record.chrom])
        assert MOTIFS["ACT1"] in payloads[record.chrom][record.start : record.end].upper() or (
            decode_codes(reverse_complement_codes(encode_sequence(MOTIFS["ACT1"]))) in payloads[record.chrom][record.start : record.end].upper()
        )


def _mean_activity(demo_data: str) -> dict:
    values = collections.defaultdict(list)
    with open(os.path.join(demo_data, "activity.tsv")) as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["activity"] != "NA":
                values[row["MenDel.Name"].replace("~", "_")].append(float(row["activity"]))
    return {name: float(np.mean(v)) for name, v in values.items()}


def test_activity_depends_on_planted_motifs(demo_data):
    """A motif-count regression explains activity; the same regression on shuffled labels does not."""
    payloads = {name: sequence for name, sequence, _ in iter_fasta(os.path.join(demo_data, "payloads.fa"))}
    activity = _mean_activity(demo_data)
    names = sorted(activity)
    features = np.array([[motif_features(payloads[n])[k] for k in ("ACT1", "ACT2", "REP", "SYNERGY")] for n in names])
    design = np.c_[features, np.ones(len(names))]
    y = np.array([activity[n] for n in names])

    def fit_r(labels: np.ndarray) -> float:
        beta = np.linalg.lstsq(design, labels, rcond=None)[0]
        return float(np.corrcoef(design @ beta, labels)[0, 1])

    shuffled = np.random.default_rng(0).permutation(y)
    assert fit_r(y) > 0.85
    assert fit_r(shuffled) < 0.6
    # The replicate mean sits close to the documented noise-free rule.
    rule = np.array([activity_from_sequence(payloads[n]) for n in names])
    assert np.corrcoef(rule, y)[0, 1] > 0.97


def test_payload_designs_are_variants_of_one_lcr():
    """Each design group edits the wild-type LCR as documented (what makes held-out payloads learnable)."""
    rng = np.random.default_rng(3)
    elements = demo_generator.build_elements(rng)
    wild_type = demo_generator.wild_type_parts(rng, elements)
    assert len(elements) == demo_generator.N_ELEMENTS and all(len(c) == demo_generator.ELEMENT_LENGTH for c in elements)
    # Backbones carry no motifs: each payload loads its own (test_motif_loads_vary_independently).
    assert sum(sum(motif_features(decode_codes(c))[m] for m in MOTIFS) for c in elements) <= 1
    assert [p.element for p in wild_type] == [-1] + [e for i in range(len(elements)) for e in (i, -1)]
    element_bytes = {bytes(codes) for codes in elements} | {bytes(reverse_complement_codes(c)) for c in elements}

    def length(parts):
        return sum(len(part.codes) for part in parts)

    def is_wild_type_with_deletions(parts):
        """Wild-type parts in order, each kept element still followed by its own spacer."""
        kept = [i for i, wild in enumerate(wild_type) if any(part is wild for part in parts)]
        return [wild_type[i] for i in kept] == list(parts) and all(
            wild_type[i].element < 0 or i + 1 in kept for i in kept)

    for _ in range(20):
        deletion = demo_generator.design_variant(rng, "LCR~deletion", wild_type, elements)
        removed = [i for i, wild in enumerate(wild_type) if wild.element >= 0 and not any(p is wild for p in deletion)]
        assert is_wild_type_with_deletions(deletion) and 1 <= len(removed) <= 6
        assert length(deletion) == length(wild_type) - sum(length(wild_type[i : i + 2]) for i in removed)

        scramble = demo_generator.design_variant(rng, "DHS~scramble", wild_type, elements)
        changed = [(new, old) for new, old in zip(scramble, wild_type) if new is not old]
        assert len(scramble) == len(wild_type) and 1 <= len(changed) <= 6
        for new, old in changed:  # same bases, shuffled, no longer an element
            assert old.element >= 0 and new.element < 0 and bytes(new.codes) != bytes(old.codes)
            assert np.array_equal(np.sort(new.codes), np.sort(old.codes))

        inversion = demo_generator.design_variant(rng, "inversion", wild_type, elements)
        inverted = [p for p in inversion if p.element >= 0 and bytes(p.codes) != bytes(elements[p.element])]
        assert 1 <= len(inverted) <= 4
        assert all(bytes(p.codes) == bytes(reverse_complement_codes(elements[p.element])) for p in inverted)
        assert sum(p.element >= 0 for p in inversion) >= demo_generator.N_ELEMENTS - 3

        synthetic = [p for p in demo_generator.design_variant(rng, "synthetic", wild_type, elements) if p.element >= 0]
        assert 3 <= len(synthetic) <= 10 and all(bytes(p.codes) in element_bytes for p in synthetic)

        cpg = demo_generator.design_variant(rng, "CpG~island", wild_type, elements)
        inserts = [p for p in cpg if not any(p is wild for wild in wild_type)]
        assert len(inserts) == 1 and 200 <= len(inserts[0].codes) <= 500
        assert np.isin(inserts[0].codes, (1, 2)).mean() > 0.6, "GC-rich insert"
        assert is_wild_type_with_deletions([p for p in cpg if p is not inserts[0]])
        assert sum(p.element >= 0 for p in cpg) >= demo_generator.N_ELEMENTS - 3
    with pytest.raises(ValueError, match="unknown payload group"):
        demo_generator.design_variant(rng, "nonsense", wild_type, elements)


def test_motif_loads_vary_independently():
    """Each payload's element copies get fresh motifs at its own rates, so the motif counts of the
    library are nearly uncorrelated (element identity or one motif cannot stand in for another)."""
    rng = np.random.default_rng(5)
    parts = demo_generator.wild_type_parts(rng, demo_generator.build_elements(rng))
    loaded = demo_generator.load_motifs(rng, parts, {"ACT1": 2.0, "ACT2": 0.0, "REP": 1.0})
    assert [p.element for p in loaded] == [p.element for p in parts]
    for old, new in zip(parts, loaded):
        if old.element < 0:
            assert new is old  # spacers untouched
        else:
            assert len(new.codes) == len(old.codes) and motif_features(decode_codes(new.codes))["ACT2"] == 0
    assert sum(motif_features(decode_codes(p.codes))["ACT1"] for p in loaded) >= 4
    payloads, _ = demo_generator.build_payloads(np.random.default_rng(7), 1.0)
    counts = np.array([[motif_features(seq)[m] for m in MOTIFS] for _, _, seq, _ in payloads if len(seq) < 5000])
    correlation = np.corrcoef(counts.T)[np.triu_indices(3, 1)]
    assert np.all(np.abs(correlation) < 0.35), correlation
    assert np.all(counts.std(axis=0) > 2.0)


def test_track_signal_follows_planted_motifs(demo_data):
    """Track 0 is higher around ACT1 motifs than elsewhere on the reference."""
    import pyBigWig
    import pyfaidx

    sequence = str(pyfaidx.Fasta(os.path.join(demo_data, "reference.fa"))["chr3"][:]).upper()
    bigwig = pyBigWig.open(os.path.join(demo_data, "tracks", "DEMO00.bw"))
    signal = np.nan_to_num(np.array(bigwig.values("chr3", 0, len(sequence))))
    positions = [i for i in range(len(sequence)) if sequence.startswith(MOTIFS["ACT1"], i)][:50]
    at_motifs = np.mean([signal[p + 6] for p in positions])
    assert at_motifs > 5 * np.median(signal)


@pytest.mark.slow
def test_cli_demo_data_help_and_run(tmp_path):
    help_text = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo-data", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--seed" in help_text and "--scale" in help_text
    from pipeline.cli import main

    assert main(["demo-data", str(tmp_path / "d"), "--seed", "3", "--scale", "0.1"]) == 0
    assert os.path.exists(tmp_path / "d" / "reference.fa.fai")
