"""The console: quiet by default, -v/-vv, the complete log file, one line per pipeline node."""
from __future__ import annotations

import logging
import os
import re

import pytest

from pipeline import console


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    console.close_log_file()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _emit() -> None:
    logging.getLogger("tfx.orchestration.portable.launcher").info("Running launcher for node_info {...}")
    logging.getLogger("apache_beam.typehints").warning("Using Any for unsupported type")
    logging.getLogger("absl").error("Execution 5 failed.")
    logging.getLogger("pipeline.pipeline").info("an INFO of ours")
    logging.getLogger("pipeline.pipeline").warning("marked 1 execution(s) of an interrupted run as FAILED")
    logging.getLogger("trainer.training").debug("a DEBUG of ours")


@pytest.mark.parametrize("verbosity, shown", [
    (0, ["warning: marked 1 execution(s) of an interrupted run as FAILED"]),
    (1, ["Running launcher", "Using Any", "Execution 5 failed", "an INFO of ours", "marked 1 execution"]),
    (2, ["Running launcher", "Using Any", "Execution 5 failed", "an INFO of ours", "marked 1 execution",
         "a DEBUG of ours"]),
])
def test_console_shows_own_warnings_by_default_and_everything_with_v(verbosity, shown, capsys, restore_logging):
    console.configure(verbosity)
    _emit()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(shown), lines
    for line, phrase in zip(lines, shown):
        assert phrase in line


def test_log_file_gets_every_record_whatever_the_console_shows(tmp_path, capsys, restore_logging):
    console.configure(0)
    path = console.open_log_file(str(tmp_path / "logs"))
    assert re.fullmatch(r"\d{8}-\d{6}\.log", os.path.basename(path))
    import warnings

    warnings.warn("a library's UserWarning", UserWarning)
    _emit()
    console.close_log_file()
    logging.getLogger("pipeline").warning("after close: console only")
    text = open(path).read()
    for phrase in ("Running launcher", "Using Any", "Execution 5 failed", "an INFO of ours", "marked 1 execution",
                   "a library's UserWarning"):
        assert phrase in text
    assert "a DEBUG of ours" not in text and "after close" not in text
    err = capsys.readouterr().err
    assert "UserWarning" not in err and "Using Any" not in err
    assert console.open_log_file(str(tmp_path / "logs")) != path, "a second run in the same second gets its own file"


@pytest.mark.slow
def test_run_prints_a_short_console_with_one_line_per_node(tmp_path, demo_data, demo_manifest):
    """`enformer-tfx run` of a tiny pipeline in a fresh process, default verbosity: every line
    counted as `wc -l` would (the demo's budget is 60), nothing from the libraries."""
    from tests.console_run import console_lines, run_cli
    from tests.test_pipeline import pipeline_config, write_config, write_gc_assay

    tmp = str(tmp_path)
    write_gc_assay(os.path.join(tmp, "assays", "batch-1"), n_payloads=24)
    config = pipeline_config(tmp, demo_data, demo_manifest["context"], epochs=1, steps=2)
    path = write_config(os.path.join(tmp, "tiny.yaml"), config)
    result = run_cli(["run", "--config", path])
    lines = console_lines(result.stdout)
    assert result.returncode == 0, result.stdout
    assert len(lines) <= 33, "\n".join(lines)
    nodes = [line.split()[0] for line in lines if re.match(r"^\S+\s+(ran|cached)\s+[\d.]+ s", line)]
    assert sorted(nodes) == sorted(["PayloadExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                                    "latest_blessed_model_resolver", "Trainer", "Evaluator", "Pusher"]), lines
    assert any(line.startswith("Pusher") and "pushed version" in line for line in lines), lines
    assert any(line.startswith("training:") or "training: 100%" in line for line in lines), lines
    # The summary ends with the loop's history (header, column names, this one round), then the commands.
    history = lines.index("rounds so far (1; `enformer-tfx history` shows them again):")
    assert lines[history + 1].split()[:3] == ["run", "spans", "model"] and lines[history + 2].split()[1] == "1"
    assert lines[history + 3].startswith("why it predicts") or lines[history + 3].startswith("predict with"), lines
    for noise in ("FutureWarning", "Using Any", "cuda", "cuDNN", "node_info", "absl", "INFO"):
        assert noise not in result.stdout, noise
    [log_path] = {line.split("full log: ")[1] for line in lines if line.startswith("full log: ")}
    assert os.path.dirname(log_path) == os.path.join(config["pipeline_root"], "logs")
    with open(log_path) as handle:
        log = handle.read()
    assert "Running launcher" in log and "INFO" in log
