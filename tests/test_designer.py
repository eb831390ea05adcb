"""Design of the next batch: candidate edits, acquisition rules, the design command, bad input."""
from __future__ import annotations

import collections
import csv
import os

import numpy as np
import pytest

from components import genome
from components.designer import acquisition, candidates as cl, design
from components.errors import InputError
from components.payload_example_gen.constructs import Annotation

# Toy payload: spacer(10) E1[10,20) spacer(10) E2[30,40) spacer(10) E3[50,60) spacer(5); E1 has
# two overlapping sites (merged into one element), E2 a '-' strand site.
SPACERS = ("AAAAAAAAAA", "CCCCCCCCCC", "GGGGGGGGGG", "TTTTT")
E1, E2, E3 = "ACGTTGCAAC", "GGATCCTTAG", "TTTACGCGCA"
TOY = SPACERS[0] + E1 + SPACERS[1] + E2 + SPACERS[2] + E3 + SPACERS[3]
TOY_SITES = [Annotation("s1", 10, 16, "+"), Annotation("s1b", 14, 20, "+"), Annotation("s2", 32, 38, "-"),
             Annotation("s3", 50, 60, ".")]


def _rc(text: str) -> str:
    return genome.decode_codes(genome.reverse_complement_codes(genome.encode_sequence(text)))


@pytest.fixture(scope="module")
def toy() -> cl.Parent:
    return cl.Parent("toy~1", "toy_1", TOY, cl.merge_sites(TOY_SITES))


def _site_bases(sequence, sites):
    return {s.name: sequence[s.start:s.end] for s in sites}


def test_elements_merge_overlapping_sites(toy):
    assert [(e.number, e.start, e.end) for e in toy.elements] == [(1, 10, 20), (2, 32, 38), (3, 50, 60)]
    assert [s.name for s in toy.elements[0].sites] == ["s1", "s1b"]


def test_delete(toy):
    sequence, sites = cl.apply_edits(toy, [cl.Edit("delete", (2,))])
    assert sequence == TOY[:32] + TOY[38:]
    assert [(s.name, s.start, s.end) for s in sites] == [("s1", 10, 16), ("s1b", 14, 20), ("s3", 44, 54)]
    assert _site_bases(sequence, sites)["s3"] == E3


def test_invert_mirrors_sites_and_flips_strand(toy):
    sequence, sites = cl.apply_edits(toy, [cl.Edit("invert", (1,))])
    assert sequence == SPACERS[0] + _rc(E1) + TOY[20:]
    by_name = {s.name: s for s in sites}
    # s1 [0,6) of the 10 bp element -> [4,10); s1b [4,10) -> [0,4+2); strands flip.
    assert (by_name["s1"].start, by_name["s1"].end, by_name["s1"].strand) == (14, 20, "-")
    assert (by_name["s1b"].start, by_name["s1b"].end, by_name["s1b"].strand) == (10, 16, "-")
    assert _site_bases(sequence, sites)["s1"] == _rc(TOY[10:16])


def test_duplicate_in_tandem(toy):
    sequence, sites = cl.apply_edits(toy, [cl.Edit("duplicate", (3,))])
    assert sequence == TOY[:60] + E3 + TOY[60:]
    s3 = [s for s in sites if s.name == "s3"]
    assert [(s.start, s.end) for s in s3] == [(50, 60), (60, 70)]
    assert all(sequence[s.start:s.end] == E3 for s in s3)


def test_swap_moves_elements_not_spacers(toy):
    sequence, sites = cl.apply_edits(toy, [cl.Edit("swap", (1, 3))])
    assert sequence == SPACERS[0] + E3 + TOY[20:50] + E1 + SPACERS[3]
    bases = _site_bases(sequence, sites)
    assert bases["s3"] == E3 and bases["s1"] == TOY[10:16] and bases["s2"] == TOY[32:38]
    assert [s.name for s in sites] == ["s3", "s2", "s1", "s1b"]


def test_scramble_keeps_dinucleotides_and_is_seeded(toy):
    sequence, sites = cl.apply_edits(toy, [cl.Edit("scramble", (1,))], seed=3)
    block = sequence[10:20]
    assert sequence[:10] == TOY[:10] and sequence[20:] == TOY[20:] and len(sequence) == len(TOY)
    pairs = lambda s: collections.Counter(zip(s, s[1:]))  # noqa: E731
    assert pairs(block) == pairs(E1) and block[0] == E1[0] and block[-1] == E1[-1]
    assert [(s.start, s.end) for s in sites] == [(10, 16), (14, 20), (32, 38), (50, 60)]
    assert cl.apply_edits(toy, [cl.Edit("scramble", (1,))], seed=3)[0] == sequence
    long = genome.decode_codes(np.random.default_rng(0).integers(0, 4, 400))
    shuffled = {cl.dinucleotide_shuffle(long, np.random.default_rng(s)) for s in range(5)}
    assert len(shuffled) == 5 and all(pairs(s) == pairs(long) for s in shuffled)


def test_two_edits_commute_and_name(toy):
    one, _ = cl.apply_edits(toy, [cl.Edit("delete", (1,)), cl.Edit("invert", (3,))])
    two, _ = cl.apply_edits(toy, [cl.Edit("invert", (3,)), cl.Edit("delete", (1,))])
    assert one == two == SPACERS[0] + TOY[20:50] + _rc(E3) + SPACERS[3]
    with pytest.raises(ValueError):
        cl.apply_edits(toy, [cl.Edit("delete", (1,)), cl.Edit("invert", (1,))])


def test_generate_candidates_distinct_seeded_and_exhaustive(toy):
    found = cl.generate_candidates([toy], cl.DEFAULT_EDIT_KINDS, count=100, max_edits=1, seed=1)
    # 3 elements x 4 single-element edits + 3 swaps, less scr3: TTTACGCGCA is the only sequence
    # with its dinucleotides, first and last base, so scrambling cannot change it.
    assert len(found) == 14 and "toy~1.scr3" not in {c.name for c in found}
    assert len({c.sequence for c in found}) == 14 and TOY not in {c.sequence for c in found}
    assert {c.name for c in found} >= {"toy~1.del2", "toy~1.swap1-3", "toy~1.scr1", "toy~1.scr2"}
    again = cl.generate_candidates([toy], cl.DEFAULT_EDIT_KINDS, count=100, max_edits=1, seed=1)
    assert [c.name for c in again] == [c.name for c in found]
    two = cl.generate_candidates([toy], cl.DEFAULT_EDIT_KINDS, count=40, max_edits=2, seed=2)
    assert len(two) == 40 and max(len(c.edits) for c in two) == 2
    for c in two:  # names carry parent and edits; each sequence is reproducible from them
        assert c.name == "toy~1." + ".".join(e.label for e in c.edits)
        assert cl.apply_edits(toy, c.edits, seed=2)[0] == c.sequence
    excluded = cl.generate_candidates([toy], ["delete"], count=10, max_edits=1, seed=1,
                                      exclude_sequences=[TOY[:10] + TOY[20:]])
    assert {c.name for c in excluded} == {"toy~1.del2", "toy~1.del3"}


def test_mutate_applies_ranked_point_mutations_inside_elements(toy):
    sequence, sites = cl.apply_edits(toy, [cl.Edit("mutate", (1,), "12T")])
    assert sequence == TOY[:12] + "T" + TOY[13:] and TOY[12] != "T"
    assert [(s.start, s.end) for s in sites] == [(10, 16), (14, 20), (32, 38), (50, 60)]
    mutations = {"toy~1": [(12, "T"), (35, "A"), (5, "G")]}  # position 5 is a spacer: never used
    found = cl.generate_candidates([toy], ["mutate"], count=10, max_edits=1, seed=0, mutations=mutations)
    assert sorted(c.name for c in found) == ["toy~1.mut1@12T", "toy~1.mut2@35A"]


def test_ranked_mutations_follow_the_objective(toy):
    from components.designer.mutations import ranked_mutations

    def count_g(one_hot):  # a "model" whose activity is the number of G bases in the window
        return np.asarray(one_hot)[:, :, 2].sum(axis=1)

    flanks = ("a" * 200, "a" * 200)
    up = ranked_mutations(toy, count_g, *flanks, construct_length=256, window_length=128,
                          objective=acquisition.parse_objective("max"), per_element=2)
    assert len(up) == 6 and all(base == "G" for _, base in up)
    assert all(cl.element_of(toy, position) for position, _ in up)
    down = ranked_mutations(toy, count_g, *flanks, construct_length=256, window_length=128,
                            objective=acquisition.parse_objective("min"), per_element=1)
    # Element 2 (ATCCTT) has no G to lose: one mutation each from elements 1 and 3.
    assert {TOY[position] for position, _ in down} == {"G"}
    assert sorted(cl.element_of(toy, position) for position, _ in down) == [1, 3]


# ------------------------------------------------------------------------------------- acquisition
def test_objectives_and_greedy():
    mean = np.array([0.5, 2.0, 1.0, 1.6])
    keys = [["a"], ["b"], ["c"], ["d"]]
    top = lambda objective: acquisition.select_batch(  # noqa: E731
        mean, None, keys, acquisition.parse_objective(objective), "greedy", 2)[0].tolist()
    assert top("max") == [1, 3] and top("min") == [0, 2] and top("target=1.4") == [3, 2]
    for bad in ("maximum", "target=", "target=abc", "target=inf", ""):
        with pytest.raises(InputError, match="--objective"):
            acquisition.parse_objective(bad)


def test_ucb_prefers_uncertain_and_needs_sd():
    mean, sd = np.array([1.0, 0.9, 0.2]), np.array([0.0, 0.5, 0.1])
    objective = acquisition.parse_objective("max")
    picks, scores = acquisition.select_batch(mean, sd, [[]] * 3, objective, "ucb", 1, beta=1.0)
    assert picks.tolist() == [1] and scores[0] == pytest.approx(1.4)
    assert acquisition.select_batch(mean, sd, [[]] * 3, objective, "ucb", 1, beta=0.0)[0].tolist() == [0]
    low = acquisition.select_batch(mean, sd, [[]] * 3, acquisition.parse_objective("min"), "ucb", 1)[0]
    assert low.tolist() == [2]  # 0.2 - 0.1 beats 0.9 - 0.5
    near = acquisition.select_batch(mean, sd, [[]] * 3, acquisition.parse_objective("target=1.3"), "ucb", 1)[0]
    assert near.tolist() == [1]  # |0.9 - 1.3| - 0.5 < 0
    with pytest.raises(InputError, match="ensemble"):
        acquisition.select_batch(mean, None, [[]] * 3, objective, "ucb", 1)


def test_diverse_penalises_shared_edits():
    # Candidates 0-2 share edit "p:del1"; 3 is slightly worse but new.
    mean = np.array([3.0, 2.9, 2.8, 2.7, 0.0])
    keys = [["p:del1"], ["p:del1", "p:inv2"], ["p:del1", "p:dup3"], ["p:inv4"], ["q:del1"]]
    objective = acquisition.parse_objective("max")
    greedy = acquisition.select_batch(mean, None, keys, objective, "greedy", 3)[0].tolist()
    diverse = acquisition.select_batch(mean, None, keys, objective, "diverse", 3)[0].tolist()
    assert greedy == [0, 1, 2]
    assert diverse[:2] == [0, 3] and 2 not in diverse[:2]
    plain = acquisition.select_batch(mean, None, keys, objective, "diverse", 3, diversity=0.0)[0].tolist()
    assert plain == greedy


# ------------------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def toy_files(tmp_path_factory):
    """Payload FASTA, annotation BED and a reference around a context locus."""
    directory = tmp_path_factory.mktemp("design_inputs")
    rng = np.random.default_rng(4)
    payloads = {"toy_1": TOY * 4, "bare_2": genome.decode_codes(rng.integers(0, 4, 200)),
                "single_3": genome.decode_codes(rng.integers(0, 4, 150))}
    genome.write_fasta(str(directory / "payloads.fa"), payloads.items(), index=False)
    with open(directory / "annotation.bed", "w") as bed:
        for copy in range(4):
            for site in TOY_SITES:
                bed.write(f"toy_1\t{site.start + 65 * copy}\t{site.end + 65 * copy}\ttoy~1\t0\t{site.strand}\n")
        bed.write("single_3\t20\t60\tsingle~3\t0\t+\n")
    genome.write_fasta(str(directory / "reference.fa"), [("chr1", genome.decode_codes(rng.integers(0, 4, 6000)))])
    return {name: str(directory / name) for name in ("payloads.fa", "annotation.bed", "reference.fa")}


def test_read_parents(toy_files):
    parents = cl.read_parents(toy_files["payloads.fa"], toy_files["annotation.bed"])
    assert [p.name for p in parents] == ["toy_1", "single_3"]
    named = cl.read_parents(toy_files["payloads.fa"], toy_files["annotation.bed"], ["toy~1"])
    assert named[0].name == "toy~1" and len(named[0].elements) == 12
    with pytest.raises(InputError, match="not in .*payloads.fa: nope"):
        cl.read_parents(toy_files["payloads.fa"], toy_files["annotation.bed"], ["toy~1", "nope"])
    with pytest.raises(InputError, match="bare_2 has no annotated element"):
        cl.read_parents(toy_files["payloads.fa"], toy_files["annotation.bed"], ["bare_2"])
    single = cl.read_parents(toy_files["payloads.fa"], toy_files["annotation.bed"], ["single_3"])
    with pytest.raises(InputError, match="--edits swap cannot apply"):
        cl.generate_candidates(single, ["swap"], count=5)
    with pytest.raises(InputError, match="unknown or unsupported edit"):
        cl.parse_edits("delete,explode")
    with pytest.raises(InputError, match="mutate cannot apply"):
        cl.generate_candidates(single, ["mutate"], count=5)


def test_prepare_and_write_outputs(toy_files, tmp_path):
    options = design.DesignOptions(parents=("toy~1",), candidates=30, batch_size=5, construct_length=512, seed=5)
    prepared = design.prepare(toy_files["payloads.fa"], toy_files["annotation.bed"], toy_files["reference.fa"],
                              "chr1:2001-2100", options)
    assert len(prepared.candidates) == 30
    mean = np.arange(30, dtype=float)
    proposals = design.propose(prepared, mean, None, options)
    assert [p.predicted for p in proposals] == [29.0, 28.0, 27.0, 26.0, 25.0]
    prefix = str(tmp_path / "next")
    paths = design.write_outputs(prefix, proposals)
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for p in paths)
    table = list(csv.DictReader(open(prefix + ".tsv"), delimiter="\t"))
    assert list(table[0]) == list(design.TABLE_COLUMNS) and table[0]["sd"] == "NA"
    names = [row["name"] for row in table]
    fasta = {name: seq for name, seq, _ in genome.iter_fasta(prefix + ".fa")}
    assert list(fasta) == [n.replace("~", "_") for n in names]
    by_name = {c.name: c for c in prepared.candidates}
    for row in table:  # the BED holds each proposal's sites at their new coordinates
        candidate = by_name[row["name"]]
        assert fasta[row["name"].replace("~", "_")] == candidate.sequence
    bed = list(genome.read_bed(prefix + ".annotation.bed", require_name=True))
    for record in bed:
        candidate = by_name[record.chrom.replace("_", "~")]
        assert (record.start, record.end, record.name, record.strand) in {
            (s.start, s.end, s.name, s.strand) for s in candidate.sites}
    assert len(bed) == sum(len(by_name[n].sites) for n in names)
    activity = open(prefix + ".activity.tsv").read().splitlines()
    assert activity[0] == "MenDel.Name\tgroups\tfoldchange\tactivity"
    assert activity[1:] == [f"{n}\tdesign\tNA\tNA" for n in names]


def test_prepare_rejects_bad_options(toy_files):
    args = (toy_files["payloads.fa"], toy_files["annotation.bed"], toy_files["reference.fa"], "chr1:2001-2100")
    for options, message in [
        (design.DesignOptions(objective="best"), "--objective"),
        (design.DesignOptions(acquisition="random"), "--acquisition"),
        (design.DesignOptions(max_edits=0), "--max-edits"),
        (design.DesignOptions(parents=("ghost",)), "not in"),
        (design.DesignOptions(construct_length=512, candidates=5, seed=1), None),
    ]:
        if message is None:
            assert design.prepare(*args, options).candidates
            continue
        with pytest.raises(InputError, match=message):
            design.prepare(*args, options)
    with pytest.raises(InputError, match="flanks run off"):
        design.prepare(toy_files["payloads.fa"], toy_files["annotation.bed"], toy_files["reference.fa"],
                       "chr1:11-100", design.DesignOptions(construct_length=2048, candidates=5))


# ------------------------------------------------------------------------------------- ensemble + command
WINDOW = 1280  # tiny model windows (10 bins)
CONSTRUCT = WINDOW + 256


def _write_payload_records(path, rng, count):
    """Gzipped payload records (the record contract) with a learnable activity: GC fraction."""
    from components import records

    with records.ShardWriter(path, compresslevel=1) as writer:
        for i in range(count):
            codes = rng.integers(0, 4, CONSTRUCT).astype(np.uint8)
            activity = float(np.isin(codes, (1, 2)).mean() * 2)
            writer.write(records.payload_example(codes, f"p{i}", "g", activity))


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A trained tiny ensemble (K=3) and a single-head export of the same payload model."""
    import tensorflow as tf

    from trainer.checkpoints import save_weights
    from trainer.enformer import build_enformer
    from trainer.ensemble import train_ensemble
    from trainer.export import export_saved_model
    from trainer.heads import PayloadModel
    from trainer.training import FitConfig

    directory = tmp_path_factory.mktemp("design_models")
    rng = np.random.default_rng(8)
    train, held_out = str(directory / "train.gz"), str(directory / "eval.gz")
    _write_payload_records(train, rng, 12)
    _write_payload_records(held_out, rng, 6)
    tf.random.set_seed(1)
    payload = PayloadModel(build_enformer("tiny"), 16, 16, 1, pooling="mean", input_length=WINDOW)
    ensemble, report = train_ensemble(payload, 3, [train], [held_out], WINDOW, FitConfig(1e-3, epochs=2, steps=3),
                                      batch=4, seed=0, reverse_complement=True, eval_offsets=1,
                                      work_dir=str(directory / "work"))
    single = export_saved_model(payload, str(directory / "single"), WINDOW)
    save_weights(payload, str(directory / "single"))
    exported = export_saved_model(ensemble, str(directory / "ensemble"), WINDOW, metadata={"uncertainty": report})
    return dict(payload=payload, ensemble=ensemble, report=report, single=single, exported=exported,
                work=str(directory / "work"))


def test_ensemble_export_mean_sd_signature(tiny_models):
    import tensorflow as tf

    from trainer.export import read_metadata

    report = tiny_models["report"]
    assert report["windows"] == 6 and report["members"] == 3
    assert 0.0 <= report["coverage_2sd"] <= 1.0 and -1.0 <= report["spearman_sd_abs_error"] <= 1.0
    assert os.path.exists(os.path.join(tiny_models["work"], "uncertainty.json"))
    loaded = tf.saved_model.load(tiny_models["exported"])
    one_hot = genome.one_hot(np.random.default_rng(2).integers(0, 4, (3, WINDOW)).astype(np.uint8))
    out = {k: v.numpy() for k, v in loaded.signatures["predict_one_hot"](one_hot=tf.constant(one_hot)).items()}
    assert set(out) == {"activity", "activity_sd", "activity_members"}
    assert out["activity_members"].shape == (3, 3)
    np.testing.assert_allclose(out["activity"], out["activity_members"].mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(out["activity_sd"], out["activity_members"].std(axis=1), rtol=1e-4, atol=1e-7)
    assert (out["activity_sd"] > 0).all()  # members differ
    # Member 0 is the fine-tuned head itself.
    np.testing.assert_allclose(out["activity_members"][:, 0],
                               tiny_models["payload"](tf.constant(one_hot)).numpy()[:, 0], rtol=1e-4, atol=1e-6)
    serving = loaded.signatures["serving_default"]
    from components.records import payload_example
    served = serving(examples=tf.constant([payload_example(np.zeros(CONSTRUCT, np.uint8), "p", "g", 0.0)]))
    assert set(served) == {"activity", "activity_sd", "activity_members"}
    assert read_metadata(tiny_models["exported"])["activity_head"]["ensemble"] == 3


def _design_argv(files, model, prefix, *extra):
    return ["design", model, "--payloads", files["payloads.fa"], "--annotation", files["annotation.bed"],
            "--reference", files["reference.fa"], "--context", "chr1:2001-2100", "--length", str(CONSTRUCT),
            "--candidates", "24", "--batch-size", "6", "--seed", "3", "--output", prefix, *extra]


def test_design_command_ucb_with_ensemble(tiny_models, toy_files, tmp_path, capsys):
    from pipeline.cli import main

    prefix = str(tmp_path / "ucb")
    assert main(_design_argv(toy_files, tiny_models["exported"], prefix, "--acquisition", "ucb", "--beta", "2")) == 0
    table = list(csv.DictReader(open(prefix + ".tsv"), delimiter="\t"))
    assert [int(r["rank"]) for r in table] == list(range(1, 7))
    scores = [float(r["acquisition"]) for r in table]
    assert scores == sorted(scores, reverse=True)
    for r in table:
        assert float(r["acquisition"]) == pytest.approx(float(r["predicted"]) + 2 * float(r["sd"]), rel=1e-4)
    assert "candidates/s" in capsys.readouterr().out
    # Same seed, same proposals; the scores come from the model through make-dataset splicing.
    again = str(tmp_path / "again")
    assert main(_design_argv(toy_files, tiny_models["exported"], again, "--acquisition", "ucb", "--beta", "2")) == 0
    assert open(again + ".tsv").read() == open(prefix + ".tsv").read()
    assert open(again + ".fa").read() == open(prefix + ".fa").read()


def test_design_scores_match_the_model_on_spliced_constructs(tiny_models, toy_files):
    from components.designer import scoring
    from components.payload_example_gen.constructs import build_construct
    from trainer.predict.predictor import load_predictor

    options = design.DesignOptions(candidates=4, construct_length=CONSTRUCT, seed=1)
    prepared = design.prepare(toy_files["payloads.fa"], toy_files["annotation.bed"], toy_files["reference.fa"],
                              "chr1:2001-2100", options)
    predictor = load_predictor(tiny_models["single"], {"activity": None})
    sequences = [c.sequence for c in prepared.candidates]
    mean, sd = scoring.score_sequences(sequences, predictor, prepared.left_flank, prepared.right_flank, CONSTRUCT,
                                       WINDOW, shifts=1, reverse_complement=False)
    assert sd is None
    centre = (CONSTRUCT - WINDOW) // 2
    direct = [predictor(genome.one_hot(genome.encode_sequence(
        build_construct(s, prepared.left_flank, prepared.right_flank, CONSTRUCT))[None, centre:centre + WINDOW]))
        ["activity"][0] for s in sequences]
    np.testing.assert_allclose(mean, direct, rtol=1e-5)


def test_design_command_bad_input_writes_nothing(tiny_models, toy_files, tmp_path, capsys):
    from pipeline.cli import main

    prefix = str(tmp_path / "bad")
    cases = [
        (("--acquisition", "ucb"), tiny_models["single"], "ucb needs an ensemble"),
        (("--parents", "ghost~9"), tiny_models["single"], "not in"),
        (("--parents", "bare_2"), tiny_models["single"], "no annotated element"),
        (("--parents", "single_3", "--edits", "swap"), tiny_models["single"], "swap cannot apply"),
        (("--objective", "target=big"), tiny_models["single"], "--objective"),
        (("--edits", "delete,explode"), tiny_models["single"], "unknown or unsupported edit"),
    ]
    for extra, model, message in cases:
        assert main(_design_argv(toy_files, model, prefix, *extra)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
        assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------- pipeline
def run_designer_pipeline(tmp: str, demo_data: str, context: str) -> dict:
    """Tiny pipeline with an ensemble of 2 and a ``design:`` section (a background job of the suite,
    tests.background): its config and newest DesignProposals and Model artifacts."""
    import yaml

    from components.designer.component import DesignProposals
    from pipeline.config import load_config
    from pipeline.pipeline import run_locally
    from pipeline.report import latest_artifact
    from tests.test_pipeline import pipeline_config, write_gc_assay

    batch = os.path.join(tmp, "assays", "batch-1")
    write_gc_assay(batch, n_payloads=24)
    with open(os.path.join(batch, "annotation.bed"), "w") as bed:
        for index in range(24):
            for start in (100, 400, 700):
                bed.write(f"gc{index:03d}\t{start}\t{start + 120}\tsite{start}\t0\t+\n")
    config = pipeline_config(tmp, demo_data, context, epochs=1, steps=4)
    config["payloads"]["annotation_bed"] = os.path.join(tmp, "assays", "batch-{SPAN}", "annotation.bed")
    config["model"]["ensemble"] = 2
    config["evaluation"] = {"min_pearson_r": -1.0, "max_pearson_r_drop": None}
    config["design"] = {"candidates": 20, "batch_size": 4, "acquisition": "ucb", "shifts": 1, "seed": 2,
                        "output_location": os.path.join(tmp, "proposals", "batch-{SPAN}", "design")}
    path = os.path.join(tmp, "design.yaml")
    with open(path, "w") as handle:
        yaml.safe_dump(config, handle)
    loaded = load_config(path)
    run_locally(loaded)
    return {"config": loaded, "proposals": latest_artifact(loaded, DesignProposals.TYPE_NAME),
            "model": latest_artifact(loaded, "Model"), "directory": tmp}


def test_designer_artifact_in_a_local_run(designer_run):
    """The blessed model of :func:`run_designer_pipeline`'s run proposes span 2."""
    import json

    from tests.test_pipeline import CONSTRUCT as LOOP_CONSTRUCT

    assert designer_run["config"].design["construct_length"] == LOOP_CONSTRUCT  # inherited from payloads
    artifact = designer_run["proposals"]
    summary = json.load(open(os.path.join(artifact.uri, "summary.json")))
    assert summary["blessed"] is True and summary["span"] == 2 and summary["ensemble"] is True
    assert summary["proposals"] == 4 and summary["candidates"] == 20
    table = list(csv.DictReader(open(os.path.join(artifact.uri, "design.tsv")), delimiter="\t"))
    assert len(table) == 4 and all(float(row["sd"]) >= 0 for row in table)
    assert all(row["parent"].startswith("gc") for row in table)
    # The same files for the lab, at the next span's location.
    for suffix in design.OUTPUT_SUFFIXES:
        copied = os.path.join(designer_run["directory"], "proposals", "batch-2", "design" + suffix)
        assert open(copied).read() == open(os.path.join(artifact.uri, "design" + suffix)).read()
    uncertainty = json.load(open(os.path.join(designer_run["model"].uri, "uncertainty.json")))
    assert uncertainty["members"] == 2


def test_design_config_errors_name_the_key(tmp_path):
    import yaml

    from pipeline.config import load_config
    from tests.test_pipeline import pipeline_config

    for design_section, ensemble, message in [
        ({"acquisition": "ucb"}, 1, "design.acquisition: ucb needs an uncertainty"),
        ({"objective": "best"}, 2, "design: --objective"),
        ({"candidatez": 3}, 2, "design.candidatez: unknown key"),
        ({"edits": "delete,explode"}, 2, "unknown or unsupported edit"),
    ]:
        config = pipeline_config(str(tmp_path), "/data", "chr3:1-100")
        config["payloads"]["annotation_bed"] = "/data/annotation.bed"
        config["model"]["ensemble"] = ensemble
        config["design"] = design_section
        path = str(tmp_path / "bad.yaml")
        with open(path, "w") as handle:
            yaml.safe_dump(config, handle)
        with pytest.raises(InputError, match=message):
            load_config(path)


def test_design_command_mutate_uses_ism(tiny_models, toy_files, tmp_path):
    from pipeline.cli import main

    prefix = str(tmp_path / "mut")
    argv = _design_argv(toy_files, tiny_models["single"], prefix, "--edits", "mutate", "--parents", "toy~1",
                        "--max-edits", "1")
    assert main(argv) == 0
    parent = TOY * 4
    rows = list(csv.DictReader(open(prefix + ".tsv"), delimiter="\t"))
    fasta = {name: seq for name, seq, _ in genome.iter_fasta(prefix + ".fa")}
    assert rows and all(row["edits"].startswith("mut") for row in rows)
    for row in rows:  # exactly one base changed, inside an element, as the label says
        sequence = fasta[row["name"].replace("~", "_")]
        changed = [i for i, (a, b) in enumerate(zip(sequence, parent)) if a != b]
        position, base = int(row["edits"].split("@")[1][:-1]), row["edits"][-1]
        assert len(sequence) == len(parent) and changed == [position] and sequence[position] == base


def test_config_design_keys_are_the_component_parameters():
    """The config checks ``design:`` keys without importing TFX; they must match the component."""
    import inspect

    from components.designer.component import Designer
    from components.designer.design import COMPONENT_PARAMETERS

    parameters = [name for name in inspect.signature(Designer.__init__).parameters
                  if name not in ("self", "model", "model_blessing", "examples")]
    assert sorted(parameters) == sorted(COMPONENT_PARAMETERS)


def test_config_design_section_errors_name_the_key(tmp_path):
    import yaml

    from pipeline.config import load_config

    demo = os.path.join(os.path.dirname(__file__), "..", "pipeline", "configs", "demo.yaml")
    with open(demo) as handle:
        config = yaml.safe_load(handle)
    for section, phrase in (({"acquisiton": "ucb"}, "design.acquisiton: unknown key"),
                           ({"acquisition": "ucb"}, "design.acquisition: ucb needs an uncertainty"),
                           ({"objective": "target=high"}, "design: ")):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({**config, "design": section}))
        with pytest.raises(InputError, match=phrase):
            load_config(str(path))
    path.write_text(yaml.safe_dump({**config, "design": {"acquisition": "diverse", "candidates": 100}}))
    loaded = load_config(str(path))
    assert loaded.design["reference_fasta"] == config["payloads"]["reference_fasta"]  # inherited from payloads
