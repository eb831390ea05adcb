"""The model card's contents and the history command's refusal without ML Metadata (no pipeline run;
the two-round run in test_pipeline checks both on real artifacts)."""
from __future__ import annotations

import json
import os

from components.model_card.card import CARD_JSON, CARD_MARKDOWN, build_card, write_card

BLESSING = {
    "blessed": 1, "pearson_r": 0.912346, "spearman_rho": float("nan"), "mse": 0.05, "n": 12.0,
    "baseline_pearson_r": 0.88, "example_count": 12.0,
    # ML Metadata's SQLite store rounds float properties to 6 digits: the exact values are JSON.
    "metrics": '{"pearson_r": 0.9123456789, "spearman_rho": null, "mse": 0.05, "n": 12, '
               '"baseline_pearson_r": 0.88, "example_count": 12}',
    "spans": "[2]", "data_fingerprints": '["split:activity,num_files:1,total_bytes:9"]',
    "examples_uri": '["/root/PayloadExampleGen/examples/3"]', "model_uri": "/root/Trainer/model/9",
    "warm_start": "/root/Trainer/model/5/Format-Serving", "baseline_model_uri": "/root/Trainer/model/5",
    "current_model": "/root/Trainer/model/9",
}
METADATA = {"mode": "finetune", "baseline": "random", "model_config": {"preset": "small"},
            "training": {"epochs": 15, "learning_rate": 0.002}}


def test_model_card_names_data_metrics_parent_config_and_loading(tmp_path):
    card = build_card(BLESSING, METADATA, "2026-12-01T15:00:00Z")
    assert card["data"] == {"spans": [2], "fingerprints": ["split:activity,num_files:1,total_bytes:9"],
                            "examples": ["/root/PayloadExampleGen/examples/3"]}
    assert card["metrics"]["pearson_r"] == 0.9123456789 and card["metrics"]["spearman_rho"] is None
    assert card["baseline_metrics"] == {"pearson_r": 0.88}
    assert card["parent_model"] == "/root/Trainer/model/5/Format-Serving"
    assert card["compared_with"] == "/root/Trainer/model/5" and card["blessed"] is True
    assert card["config"]["training"]["epochs"] == 15 and card["starting_weights"] == "random"
    write_card(str(tmp_path), card)
    assert sorted(os.listdir(tmp_path)) == [CARD_JSON, CARD_MARKDOWN]
    with open(tmp_path / CARD_JSON) as handle:
        assert json.load(handle) == card
    markdown = (tmp_path / CARD_MARKDOWN).read_text()
    assert "| pearson_r | 0.9123 | 0.88 |" in markdown and "| spearman_rho | n/a | n/a |" in markdown
    assert "span(s) 2" in markdown and "2026-12-01T15:00:00Z" in markdown
    assert 'tf.saved_model.load("DIRECTORY_OF_THIS_CARD")' in markdown


def test_first_model_card_says_no_parent_and_reads_float_properties_without_exact_json():
    blessing = {key: value for key, value in BLESSING.items() if key != "metrics"}
    card = build_card(dict(blessing, warm_start="", baseline_model_uri=""), METADATA, "2026-12-01T15:00:00Z")
    assert card["parent_model"] is None and card["compared_with"] is None
    assert card["metrics"]["pearson_r"] == 0.912346 and card["metrics"]["spearman_rho"] is None


def test_history_without_metadata_is_one_error_line(tmp_path, capsys):
    from pipeline.cli import main
    from tests.test_pipeline import pipeline_config, write_config

    path = write_config(str(tmp_path / "loop.yaml"), pipeline_config(str(tmp_path), "/data", "chr3:1-100"))
    assert main(["history", "--config", path]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no ML Metadata yet" in err[0]
