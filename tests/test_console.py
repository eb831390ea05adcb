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


# The console of a whole `enformer-tfx run` in a fresh process (line budget, one line per node,
# no library noise, the full log file) is checked on both processes of the killed-and-resumed run
# in tests/test_hardening.py: one pipeline run serves both checks.
