"""What the command line prints, and the complete log behind it.

The console shows this project's warnings and errors, progress bars and the lines commands
print; the libraries' INFO chatter (TFX protobuf dumps, Beam type-hint notes, TensorFlow's
C++ start-up messages, google-* FutureWarnings) stays out of it, filtered where it is produced:
logging levels per logger, ``warnings`` routed into logging, ``TF_CPP_MIN_LOG_LEVEL`` set before
TensorFlow is imported. ``-v`` shows every INFO record, ``-vv`` DEBUG. A log file, when a
command opens one (:func:`open_log_file`), receives every record at INFO (DEBUG with ``-vv``)
whatever the console shows.
"""
from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from typing import List, Optional

# Loggers of this project: their warnings reach the console at default verbosity.
OWN_LOGGERS = ("pipeline", "components", "trainer", "deploy", "benchmarks", "__main__")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_installed: List[logging.Handler] = []
_log_file: Optional[logging.Handler] = None


def silence_library_warnings() -> None:
    """Drop the google.* FutureWarnings (unsupported Python version notices) printed on import;
    they would precede every ``error:`` line. Must run before TensorFlow/TFX are imported."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google(\.|$)")


def quiet_native_libraries(verbosity: int) -> None:
    """TensorFlow's C++ logging (and the CUDA/cuDNN registration errors on CPU machines) bypasses
    Python logging: it is switched off through the environment, before TensorFlow is imported.
    An explicit ``TF_CPP_MIN_LOG_LEVEL`` in the environment wins."""
    if verbosity == 0:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _ConsoleFilter(logging.Filter):
    """Default: this project's WARNING and above, libraries' CRITICAL only (a library's error is
    re-raised to the CLI, which prints it once); ``-v``: INFO; ``-vv``: DEBUG."""

    def __init__(self, verbosity: int):
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbosity >= 2:
            return True
        if self.verbosity == 1:
            return record.levelno >= logging.INFO
        own = record.name.split(".", 1)[0] in OWN_LOGGERS
        return record.levelno >= (logging.WARNING if own else logging.CRITICAL)


class _ConsoleFormatter(logging.Formatter):
    """``warning: message`` (like the CLI's ``error:`` lines) at default verbosity, the full
    log format with ``-v``."""

    def __init__(self, verbosity: int):
        super().__init__(LOG_FORMAT)
        self.verbosity = verbosity

    def format(self, record: logging.LogRecord) -> str:
        if self.verbosity:
            return super().format(record)
        return f"{record.levelname.lower()}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler on whatever ``sys.stderr`` is at emit time (tests redirect it)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure(verbosity: int) -> None:
    """Install the console handler for ``verbosity`` (0, 1 = ``-v``, 2 = ``-vv``) on the root
    logger, replacing one installed by an earlier call; route ``warnings`` into logging."""
    silence_library_warnings()
    quiet_native_libraries(verbosity)
    root = logging.getLogger()
    for handler in _installed:
        root.removeHandler(handler)
    _installed.clear()
    handler = _StderrHandler()
    handler.addFilter(_ConsoleFilter(verbosity))
    handler.setFormatter(_ConsoleFormatter(verbosity))
    root.addHandler(handler)
    _installed.append(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    # absl (TFX's logger) keeps its own level; let its records reach the root's handlers.
    logging.getLogger("absl").setLevel(logging.NOTSET)
    logging.captureWarnings(True)


def open_log_file(directory: str) -> str:
    """Start copying every record into ``directory/<UTC timestamp>.log``; returns its path."""
    global _log_file
    close_log_file()
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = os.path.join(directory, f"{stamp}.log")
    suffix = 1
    while os.path.exists(path):  # two runs within a second
        path = os.path.join(directory, f"{stamp}-{suffix}.log")
        suffix += 1
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    _log_file = handler
    return path


def close_log_file() -> None:
    """Stop writing the log file opened by :func:`open_log_file` (if any)."""
    global _log_file
    if _log_file is not None:
        logging.getLogger().removeHandler(_log_file)
        _log_file.close()
        _log_file = None
