"""PayloadExampleGen: executor on tiny generated inputs, plain functions, CLI, schema.

Inputs are generated here: a 10 kb random reference (partly soft-masked), a 1 kb context
``chr1:4001-5000``, payloads of 300-3,000 bp spliced into 2,560 bp constructs.
"""
from __future__ import annotations

import glob
import logging
import os
import random
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

from components import genome, records
from components.errors import InputError
from components.payload_example_gen import constructs, params

LENGTH = 2_560
WINDOW = 2_048
CONTEXT = "chr1:4001-5000"  # 0-based [4000, 5000)
SEED = 11
HEADER = "MenDel.Name\tgroups\tfoldchange\tactivity\n"


def random_dna(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def make_reference(path: str) -> str:
    rng = random.Random(1)
    sequence = random_dna(rng, 10_000)
    # Soft-mask part of each flank: lower case must be encoded as bases, never as N.
    sequence = sequence[:3500] + sequence[3500:3800].lower() + sequence[3800:5200] + sequence[5200:5600].lower() + sequence[5600:]
    genome.write_fasta(path, [("chr1", sequence)])
    return sequence


class Inputs:
    """Tiny activity table + payload FASTA + BED written into ``root``."""

    def __init__(self, root: str, names_lengths: Sequence[Tuple[str, int]], seed: int = 2):
        os.makedirs(root, exist_ok=True)
        self.root = root
        rng = random.Random(seed)
        self.payloads: Dict[str, str] = {name: random_dna(rng, length) for name, length in names_lengths}
        self.reference = os.path.join(root, "ref.fa")
        self.reference_sequence = make_reference(self.reference)
        self.fasta = os.path.join(root, "payloads.fa")
        self.table = os.path.join(root, "activity.tsv")
        self.bed = os.path.join(root, "sites.bed")
        self.rows: List[str] = []
        self.bed_lines: List[str] = []

    def write(self, fasta_records: Optional[List[Tuple[str, str]]] = None) -> "Inputs":
        records = fasta_records or [(constructs.fasta_key(n), s) for n, s in self.payloads.items()]
        genome.write_fasta(self.fasta, records, index=False)
        with open(self.table, "w") as handle:
            handle.write(HEADER + "".join(self.rows))
        with open(self.bed, "w") as handle:
            handle.write("".join(self.bed_lines))
        return self

    def add_replicates(self, name: str, group: str, activities: Sequence[str], foldchange: str = "1.5") -> None:
        self.rows += [f"{name}\t{group}\t{foldchange}\t{a}\n" for a in activities]


def exec_properties(inputs: Inputs, activity_path: Optional[str] = None, **overrides) -> dict:
    from tfx.utils import proto_utils

    from components.payload_example_gen.component import make_input_config, make_output_config

    input_base, pattern = params.split_input_path(activity_path or inputs.table)
    properties = {
        "input_base": input_base,
        "input_config": proto_utils.proto_to_json(make_input_config(pattern)),
        "output_config": proto_utils.proto_to_json(make_output_config(overrides.pop("folds", {"train": 1, "eval": 1}))),
        "output_data_format": 6,
        "output_file_format": 5,
        params.PAYLOAD_FASTA_KEY: inputs.fasta,
        params.ANNOTATION_BED_KEY: inputs.bed,
        params.REFERENCE_FASTA_KEY: inputs.reference,
        params.CONTEXT_KEY: CONTEXT,
        params.CONSTRUCT_LENGTH_KEY: LENGTH,
        params.WINDOW_LENGTH_KEY: WINDOW,
        params.SEED_KEY: SEED,
        params.SPLIT_MODE_KEY: "payload",
        params.RECORDS_PER_SHARD_KEY: 1000,
    }
    properties.update(overrides)
    return properties


def run_executor(uri: str, properties: dict, beam_args: Optional[List[str]] = None):
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.types import standard_artifacts

    from components.payload_example_gen.executor import Executor

    os.makedirs(uri, exist_ok=True)
    artifact = standard_artifacts.Examples()
    artifact.uri = uri
    Executor(BaseBeamExecutor.Context(beam_pipeline_args=beam_args)).Do({}, {"examples": [artifact]}, properties)
    return artifact


def read_split(uri: str, split: str) -> Dict[str, dict]:
    serialized = records.read_split(uri, split)
    assert serialized, f"no records in {uri}/Split-{split}"
    parsed = [records.parse_payload_record(raw) for raw in serialized]
    return {record["name"]: record for record in parsed}


def fixture_inputs(root: str) -> Inputs:
    names = [("P1", 500), ("P2", 1201), ("A~2", 800), ("LONG~1", 3000), ("NAONLY", 400)]
    names += [(f"Q{i}", 300 + 97 * i) for i in range(10)]
    inputs = Inputs(root, names)
    inputs.add_replicates("P1", "g1", ["1.0", "2.0", "4.5"])
    inputs.rows.append("P1\tg1\tNA\t100\n")  # NA foldchange: row skipped, not averaged
    inputs.add_replicates("P2", "g1", ["0.25"])
    inputs.add_replicates("A~2", "g2", ["3", "5"])
    inputs.add_replicates("LONG~1", "g2", ["7"])
    inputs.add_replicates("NAONLY", "g2", ["NA", "NA"])
    for i in range(10):
        inputs.add_replicates(f"Q{i}", f"g{i % 3}", [str(i), str(i + 1)])
    inputs.bed_lines = [
        "P1\t10\t60\tsiteP1\n",
        "A_2\t0\t800\twholeA\n",
        "LONG_1\t0\t100\tlostLeft\n",       # trimmed away (trim = 220 bp on the left)
        "LONG_1\t1000\t1100\tkeptMiddle\n",
        "LONG_1\t2950\t3000\tlostRight\n",
        "NOPE\t1\t5\tghost\n",               # unknown payload: warn and skip
        "P2\t50\t50\tempty\n",               # start >= end: warn and skip
    ]
    return inputs.write()


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("peg"))
    inputs = fixture_inputs(os.path.join(root, "in"))
    handler = _ListHandler()
    logging.getLogger("components").addHandler(handler)
    try:
        run_executor(os.path.join(root, "examples"), exec_properties(inputs))
    finally:
        logging.getLogger("components").removeHandler(handler)
    uri = os.path.join(root, "examples")
    return inputs, uri, {**read_split(uri, "train"), **read_split(uri, "eval")}, handler.messages


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: List[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def expected_construct(inputs: Inputs, payload: str) -> str:
    """Independent re-statement of the layout rules, on the raw reference string."""
    ref = inputs.reference_sequence
    if len(payload) <= LENGTH:
        left = (LENGTH - len(payload)) // 2
        right = LENGTH - len(payload) - left
        return ref[4000 - left:4000] + payload + ref[5000:5000 + right]
    trim = (len(payload) - LENGTH) // 2
    return payload[trim:trim + LENGTH]


# --------------------------------------------------------------------------- executor output


def test_records_constructs_and_layout(fixture_run):
    inputs, uri, records, _ = fixture_run
    assert sorted(records) == sorted(n for n in inputs.payloads if n != "NAONLY")  # NA-only payload skipped
    for name, record in records.items():
        payload = inputs.payloads[name]
        codes = record["sequence"]
        assert codes.dtype == np.uint8 and codes.shape == (LENGTH,)
        np.testing.assert_array_equal(codes, genome.encode_sequence(expected_construct(inputs, payload).upper()))
        assert (codes < 4).all(), "soft-masked flanks or payload turned into N"
        if len(payload) <= LENGTH:
            left = (LENGTH - len(payload)) // 2
            assert genome.decode_codes(codes[left:left + len(payload)]) == payload  # payload at its offset
            assert genome.decode_codes(codes[:left]) == inputs.reference_sequence[4000 - left:4000].upper()


def test_activity_mean_groups_and_tilde_names(fixture_run):
    _, _, records, _ = fixture_run
    assert records["P1"]["activity"] == pytest.approx((1.0 + 2.0 + 4.5) / 3)  # NA-foldchange row excluded
    assert records["A~2"]["activity"] == pytest.approx(4.0)  # '~' in table, '_' in FASTA
    assert records["A~2"]["group"] == "g2"
    assert records["Q4"]["activity"] == pytest.approx(4.5)


def test_annotations_shifted_and_trimmed(fixture_run):
    _, _, records, messages = fixture_run
    left_p1 = (LENGTH - 500) // 2
    assert records["P1"]["annotation_name"] == ["siteP1"]
    assert (records["P1"]["annotation_start"], records["P1"]["annotation_end"]) == ([10 + left_p1], [60 + left_p1])
    left_a = (LENGTH - 800) // 2
    assert (records["A~2"]["annotation_start"], records["A~2"]["annotation_end"]) == ([left_a], [left_a + 800])
    long = records["LONG~1"]
    assert long["annotation_name"] == ["keptMiddle"]
    assert (long["annotation_start"], long["annotation_end"]) == ([1000 - 220], [1100 - 220])
    assert records["Q0"]["annotation_name"] == [] and records["Q0"]["annotation_start"] == []
    trimmed = [m for m in messages if "LONG~1" in m and "trimmed" in m]
    assert trimmed and "lostLeft" in trimmed[0] and "lostRight" in trimmed[0]
    assert any("unknown payload" in m and "NOPE" in m for m in messages)
    assert any("start >= end" in m and "empty" in m for m in messages)


def test_artifact_properties_and_payload_split(fixture_run):
    inputs, uri, records, _ = fixture_run
    train, evaluation = read_split(uri, "train"), read_split(uri, "eval")
    assert not set(train) & set(evaluation)  # payload hold-out: each payload in one split
    for name in records:
        expected = constructs.assign_split(name, SEED, [("train", 1), ("eval", 1)])
        assert name in (train if expected == "train" else evaluation)
    assert not glob.glob(os.path.join(uri, ".staging-*"))


@pytest.mark.slow
def test_schema_matches_records(fixture_run):
    import tensorflow_data_validation as tfdv

    _, uri, _, _ = fixture_run
    schema = tfdv.load_schema_text(os.path.join(os.path.dirname(__file__), "..", "schemas", "payload_schema.pbtxt"))
    assert sorted(f.name for f in schema.feature) == sorted(records.PAYLOAD_FEATURES)
    stats = tfdv.generate_statistics_from_tfrecord(data_location=os.path.join(uri, "Split-*", "*.gz"))
    anomalies = tfdv.validate_statistics(stats, schema)
    assert not anomalies.anomaly_info, dict(anomalies.anomaly_info)


def test_parse_feature_spec_reads_records(fixture_run):
    import tensorflow as tf

    _, uri, by_name, _ = fixture_run
    batch = tf.constant(records.read_split(uri, "train"))
    parsed = tf.io.parse_example(batch, records.payload_feature_spec())
    codes = tf.io.decode_raw(parsed["sequence"], tf.uint8)
    assert codes.shape[1] == LENGTH
    for row, name in enumerate(n.decode() for n in parsed["name"].numpy()):
        np.testing.assert_array_equal(codes[row].numpy(), by_name[name]["sequence"])
        assert parsed["annotation_start"][row].numpy().tolist() == by_name[name]["annotation_start"]
        assert [s.decode() for s in parsed["annotation_name"][row].numpy()] == by_name[name]["annotation_name"]


def test_trainer_inputs_read_generator_output(fixture_run):
    """Round trip: PayloadExampleGen's records through ``trainer.inputs.payload_dataset``."""
    from trainer import inputs

    _, uri, by_name, _ = fixture_run
    names = [records.parse_payload_record(raw)["name"] for raw in records.read_split(uri, "eval")]
    evaluation = inputs.payload_dataset(records.shard_pattern(uri, "eval"), WINDOW, batch_size=64, training=False,
                                        num_eval_offsets=2)
    one_hot, activity = [np.concatenate(parts) for parts in zip(*[(x.numpy(), y.numpy()) for x, y in evaluation])]
    assert one_hot.shape == (2 * len(names), WINDOW, 4) and one_hot.dtype == np.float32
    assert activity.dtype == np.float32
    for row, name in enumerate(np.repeat(names, 2)):  # payload-major, offset-minor
        offset = 0 if row % 2 == 0 else LENGTH - WINDOW  # two evenly spaced offsets: both ends
        expected = genome.one_hot(by_name[name]["sequence"][offset:offset + WINDOW])
        np.testing.assert_array_equal(one_hot[row], expected)
        assert activity[row] == pytest.approx(by_name[name]["activity"])
    training = inputs.payload_dataset(records.shard_pattern(uri, "train"), WINDOW, batch_size=4, training=True, seed=3)
    window, _ = next(iter(training))
    assert window.shape == (4, WINDOW, 4)
    assert np.all(window.numpy().sum(axis=-1) == 1.0)  # the generator writes no N inside constructs here


# --------------------------------------------------------------------------- splits, spans, determinism


def test_split_stable_when_payloads_added(tmp_path):
    base = Inputs(str(tmp_path / "a"), [(f"S{i}", 400) for i in range(40)])
    for i in range(40):
        base.add_replicates(f"S{i}", f"g{i % 4}", ["1"])
    base.write()
    grown = Inputs(str(tmp_path / "b"), [(f"S{i}", 400) for i in range(80)])
    for i in reversed(range(80)):  # different order, twice the payloads
        grown.add_replicates(f"S{i}", f"g{i % 4}", ["1"])
    grown.write()
    kwargs = dict(reference_fasta=base.reference, context=CONTEXT, construct_length=LENGTH, window_length=WINDOW,
                  seed=SEED, folds={"train": 8, "eval": 2})
    first = constructs.plan_dataset([base.table], base.fasta, **kwargs)
    second = constructs.plan_dataset([grown.table], grown.fasta, **kwargs)
    before = {p.name: p.splits for p in first.payloads}
    after = {p.name: p.splits for p in second.payloads}
    assert all(after[name] == split for name, split in before.items())
    assert {s for p in second.payloads for s in p.splits} == {"train", "eval"}
    other_seed = constructs.plan_dataset([base.table], base.fasta, **{**kwargs, "seed": SEED + 1})
    assert {p.name: p.splits for p in other_seed.payloads} != before


def test_offsets_mode_puts_every_payload_in_every_split(tmp_path):
    inputs = fixture_inputs(str(tmp_path))
    plan = constructs.plan_dataset([inputs.table], inputs.fasta, inputs.reference, CONTEXT, inputs.bed,
                                   construct_length=LENGTH, window_length=WINDOW, split_mode="offsets")
    assert all(p.splits == ("train", "eval") for p in plan.payloads)


def test_span_selects_latest_batch_and_fills_payload_path(tmp_path):
    from tfx.components.example_gen.driver import FileBasedDriver

    for span, names in ((1, ["P1", "P2"]), (2, ["P1", "P3", "P4"])):
        inputs = Inputs(str(tmp_path / f"batch-{span}"), [(n, 600) for n in names])
        for name in names:
            inputs.add_replicates(name, "g", ["1", "2"])
        inputs.write()
    pattern = str(tmp_path / "batch-{SPAN}" / "activity.tsv")
    properties = exec_properties(inputs, activity_path=pattern, folds={"train": 1},
                                 **{params.PAYLOAD_FASTA_KEY: str(tmp_path / "batch-{SPAN}" / "payloads.fa"),
                                    params.ANNOTATION_BED_KEY: ""})
    # The ExampleGen driver resolves the span and fingerprints the matched table.
    resolved = FileBasedDriver(metadata_handle=None).resolve_exec_properties(dict(properties), None, None)
    assert resolved["span"] == 2 and "batch-2/activity.tsv" in resolved["input_config"]
    assert resolved["input_fingerprint"].startswith("split:activity,num_files:1,")
    # Standalone executor call resolves it the same way.
    run_executor(str(tmp_path / "out"), properties)
    assert sorted(read_split(str(tmp_path / "out"), "train")) == ["P1", "P3", "P4"]


@pytest.mark.slow
def test_output_identical_across_worker_counts(tmp_path):
    inputs = fixture_inputs(str(tmp_path / "in"))
    properties = exec_properties(inputs, **{params.RECORDS_PER_SHARD_KEY: 3})
    one = str(tmp_path / "one")
    two = str(tmp_path / "two")
    run_executor(one, dict(properties))
    run_executor(two, dict(properties), ["--direct_running_mode=multi_processing", "--direct_num_workers=2"])

    def files(root):
        return {os.path.relpath(p, root): open(p, "rb").read()
                for p in glob.glob(os.path.join(root, "Split-*", "*.gz"))}

    first, second = files(one), files(two)
    assert len(first) >= 5 and sorted(first) == sorted(second)
    assert first == second  # byte-identical shards, not only the same record set


# --------------------------------------------------------------------------- bad input


def _bad_missing_column(inputs):
    inputs.write()
    with open(inputs.table, "w") as handle:
        handle.write("MenDel.Name\tgroups\tfoldchange\tactivity_mean\nP1\tg\t1\t2\n")
    return {}, r"lacks column\(s\) activity"


def _bad_absent_payloads(inputs):
    for i in range(7):
        inputs.add_replicates(f"MISSING{i}", "g", ["1"])
    inputs.write()
    return {}, r"7 payload\(s\) .* not in the payload FASTA.*MISSING0, MISSING1.*\(7 in all\)"


def _bad_duplicate_names(inputs):
    records = [(constructs.fasta_key(n), s) for n, s in inputs.payloads.items()]
    inputs.write(records + [("P1", "ACGT" * 50)])
    return {}, r"payloads.fa:\d+: payload 'P1' appears again .* different sequence"


def _bad_context_outside(inputs):
    inputs.write()
    return {params.CONTEXT_KEY: "chr1:9001-10500"}, r"context chr1:9001-10500: outside chromosome chr1 \(length 10000\)"


def _bad_context_chrom(inputs):
    inputs.write()
    return {params.CONTEXT_KEY: "chr7:1-10"}, r"chromosome 'chr7' is not in"


def _bad_flanks_off_end(inputs):
    inputs.write()
    return {params.CONTEXT_KEY: "chr1:201-900"}, r"flanks run off chromosome chr1 .* payload 'P1' \(500 bp\)"


def _bad_non_acgtn(inputs):
    inputs.payloads["P2"] = inputs.payloads["P2"][:99] + "R" + inputs.payloads["P2"][100:]
    inputs.write()
    return {}, r"payload 'P2' has 'R' at position 100"


def _bad_all_na(inputs):
    inputs.rows = ["P1\tg\tNA\t1\n", "P2\tg\t2\tNA\n"]
    inputs.write()
    return {}, r"no payload left after skipping 2 row\(s\)"


def _bad_empty_split(inputs):
    inputs.rows = ["P1\tg\t1\t1\n"]
    inputs.write()
    return {"folds": {"train": 1, "eval": 1}}, r"split\(s\) (eval|train) would be empty"


def _bad_non_numeric(inputs):
    inputs.rows.append("P2\tg\t1\thigh\n")
    inputs.write()
    return {}, r"activity.tsv:\d+: activity of 'P2' is not a number: 'high'"


@pytest.mark.parametrize("case", [
    _bad_missing_column, _bad_absent_payloads, _bad_duplicate_names, _bad_context_outside, _bad_context_chrom,
    _bad_flanks_off_end, _bad_non_acgtn, _bad_all_na, _bad_empty_split, _bad_non_numeric,
], ids=lambda case: case.__name__[5:])
def test_bad_input_raises_one_clear_error_and_publishes_nothing(tmp_path, case):
    inputs = Inputs(str(tmp_path / "in"), [("P1", 500), ("P2", 700), ("P3", 900)])
    for name in ("P1", "P2", "P3"):
        inputs.add_replicates(name, "g", ["1", "2"])
    overrides, pattern = case(inputs)
    uri = str(tmp_path / "examples")
    with pytest.raises(InputError, match=pattern):
        run_executor(uri, exec_properties(inputs, **overrides))
    assert os.listdir(uri) == []  # no split directory, no staging leftovers


# --------------------------------------------------------------------------- CLI and component


def test_cli_make_dataset_offsets_mode(tmp_path, capsys):
    from pipeline.cli import main

    inputs = fixture_inputs(str(tmp_path / "in"))
    table = str(tmp_path / "out" / "dataset.tsv")
    argv = ["make-dataset", inputs.table, inputs.fasta, "--annotation", inputs.bed, "--reference", inputs.reference,
            "--context", CONTEXT, "--seed", "4200", "--folds", "train=1", "eval=1", "--split-mode", "offsets",
            "--length", str(LENGTH), "--window", str(WINDOW), "--output", table]
    assert main(argv) == 0
    with open(table) as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    assert rows[0] == ["index", "name", "group", "fold", "activity", "annotation", "sequence"]
    by_name = {row[1]: row for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(len(rows) - 1)]
    p1 = by_name["P1"]
    left = (LENGTH - 500) // 2
    assert p1[3] == "train,eval" and p1[4] == "2.500" and p1[5] == f"siteP1:{10 + left}-{60 + left}"
    assert p1[6][left:left + 500] == inputs.payloads["P1"]  # payload upper case
    assert p1[6][:left] == inputs.reference_sequence[4000 - left:4000].lower()  # flanks lower case
    examples = str(tmp_path / "out" / "dataset.examples")
    train, evaluation = read_split(examples, "train"), read_split(examples, "eval")
    assert sorted(train) == sorted(evaluation) == sorted(by_name)  # offsets mode: every payload in both

    # Bad input: one error line (after the input warnings) on stderr, exit status 2, nothing new published.
    capsys.readouterr()  # the good run's warnings and progress bar
    assert main(argv[:-1] + [str(tmp_path / "bad.tsv"), "--context", "chr1:9001-10500"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if line.startswith("error:")] == err[-1:]
    assert err[-1].startswith("error: context chr1:9001-10500")
    assert all(line.startswith("warning:") for line in err[:-1]), err
    assert not os.path.exists(tmp_path / "bad.tsv") and not os.path.exists(tmp_path / "bad.examples")


def test_component_is_a_file_based_example_gen():
    from tfx.components.example_gen.component import FileBasedExampleGen
    from tfx.components.example_gen.driver import FileBasedDriver

    from components.payload_example_gen.component import PayloadExampleGen

    component = PayloadExampleGen(activity_table="/data/assays/batch-{SPAN}/activity.tsv",
                                  payload_fasta="/data/assays/batch-{SPAN}/payloads.fa",
                                  reference_fasta="/data/mm10.fa", context="chr3:34732778-34772706",
                                  folds={"train": 8, "eval": 2}, seed=4200)
    assert isinstance(component, FileBasedExampleGen) and component.driver_class is FileBasedDriver
    properties = component.exec_properties
    assert properties["input_base"] == "/data/assays"
    assert "batch-{SPAN}/activity.tsv" in properties["input_config"]
    assert properties[params.CONSTRUCT_LENGTH_KEY] == 26_880 and properties[params.SPLIT_MODE_KEY] == "payload"


def test_normalize_folds():
    assert params.normalize_folds(["train=8", "eval=2"]) == [("train", 8), ("eval", 2)]
    assert params.normalize_folds(["train=1"]) == [("train", 1)]
    assert params.normalize_folds({"train": 0.8, "eval": 0.2}) == [("train", 800), ("eval", 200)]
    with pytest.raises(InputError, match="must be > 0"):
        params.normalize_folds(["train=0"])
    with pytest.raises(InputError, match="NAME=WEIGHT"):
        params.normalize_folds(["train"])


@pytest.mark.parametrize("payload,flanks,length,expected", [
    # Hand-written constructs: excess 3 (odd) cuts 1 bp left and 2 bp right, excess 2 cuts 1 + 1,
    # excess 1 cuts only the last base; padding 3 takes 1 reference base left and 2 right.
    ("ACGTTGCAAC", ("", ""), 7, "CGTTGCA"),
    ("ACGTTGCAAC", ("", ""), 8, "CGTTGCAA"),
    ("ACGTTGCAAC", ("", ""), 9, "ACGTTGCAA"),
    ("ACGTTGCAAC", ("", ""), 10, "ACGTTGCAAC"),
    ("acg", ("TTTA", "CCCG"), 6, "aACGcc"),
    ("acg", ("TTTA", "CCCG"), 7, "taACGcc"),
])
def test_construct_trim_and_padding_by_hand(payload, flanks, length, expected):
    assert constructs.build_construct(payload, flanks[0], flanks[1], length) == expected


def test_annotation_shift_of_an_odd_trim_by_hand():
    # 10 bp payload into 7 bp: construct base 0 is payload base 1, so [1, 8) -> [0, 7) and
    # [0, 3) leaves the construct on the left while [7, 8) is its last base.
    place = constructs.layout(10, 7)
    sites = [constructs.Annotation("in", 1, 8), constructs.Annotation("left", 0, 3), constructs.Annotation("last", 7, 8)]
    kept, dropped = constructs.shift_annotations(sites, place, 7)
    assert kept == [constructs.Annotation("in", 0, 7), constructs.Annotation("last", 6, 7)]
    assert dropped == [constructs.Annotation("left", -1, 2)]


def test_examples_artifact_keeps_the_dataset_table(fixture_run):
    """The artifact holds the make-dataset table as dataset.tsv, which `predict` takes via the directory."""
    from trainer.predict.payloads import dataset_table_path, read_dataset_table

    _, uri, by_name, _ = fixture_run
    table = dataset_table_path(uri)
    assert table == os.path.join(uri, records.DATASET_TABLE)
    rows = {row.name: row for row in read_dataset_table(table)}
    assert sorted(rows) == sorted(by_name)
    for name, record in by_name.items():
        np.testing.assert_array_equal(rows[name].codes, record["sequence"])
        assert rows[name].activity == pytest.approx(record["activity"], abs=5e-4)
        assert [site.name for site in rows[name].sites] == record["annotation_name"]
        assert rows[name].fold in {"train", "eval"}
