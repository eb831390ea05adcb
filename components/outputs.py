"""All-or-nothing output files: the one writer discipline of every command.

A command reserves each output path with :meth:`OutputFiles.reserve`, writes to the returned
temporary sibling (same directory, same suffix, so tools keyed on the extension still work),
and every reserved path is renamed into place only when the whole block succeeded. On any
exception the temporary files and the directories created for them are removed, so a failed
command leaves nothing behind (an existing output is left untouched).

``OSError`` raised while writing (disk full, read-only directory, a parent path that is a
file) becomes :class:`components.errors.OutputError` naming the output path: the CLI prints
it as one ``error: PATH: reason`` line with exit status 2.

Directories that other code fills and publishes itself (the Beam dataset writers, a resumable
training directory) are registered with :meth:`OutputFiles.directory`: created, probed for
writability before any work, and removed again on failure if this command created them and they
are still empty.

Paths that already exist and are not regular files or directories (``/dev/stdout``,
``/dev/full``, named pipes) are written directly: a rename would replace the device.
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import Dict, Iterator, List, Optional, Tuple

from components.errors import InputError, OutputError


def _is_special(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class OutputFiles:
    """Temporary siblings of the outputs of one command, published together by :func:`atomic_outputs`."""

    def __init__(self) -> None:
        self._pending: Dict[str, str] = {}  # final path -> temporary path
        self._created_dirs: List[str] = []
        self.current: Optional[str] = None  # the path most recently reserved: blamed for anonymous OSErrors

    def reserve(self, path: str, stream: bool = True) -> str:
        """Temporary file path to write instead of ``path``.

        Missing parent directories are created (and removed again if the command fails). A device
        or pipe is returned as is for writers that stream into it (``stream``); writers that
        rename their result into place must not replace a device, so they get :class:`OutputError`.
        """
        self.current = path
        if _is_special(path):
            if not stream:
                raise OutputError(f"{path}: not a regular file; this output is written by renaming a finished file")
            return path
        parent = os.path.dirname(os.path.abspath(path))
        self._make_parents(parent)
        base = os.path.basename(path.rstrip("/"))
        temporary = os.path.join(parent, f".partial-{os.getpid()}-{base}")
        self._pending[path] = temporary
        return temporary

    def directory(self, path: str) -> str:
        """Create the output directory ``path`` (and parents) in place, for writers that publish
        their own files inside it; directories created here are removed again on failure if empty.

        A probe file is created and removed, so an unwritable directory fails here, before any work.
        """
        self._make_parents(os.path.abspath(path))
        self.current = path
        probe = os.path.join(path, f".partial-{os.getpid()}-probe")
        with open(probe, "w"):
            pass
        os.remove(probe)
        return path

    def _make_parents(self, parent: str) -> None:
        missing = []
        while parent and not os.path.isdir(parent):
            if os.path.lexists(parent):  # a file where a directory is needed: mkdir would say "File exists"
                raise OutputError(f"{parent}: cannot write: {os.strerror(errno.ENOTDIR)}")
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            self.current = directory
            os.mkdir(directory)
            self._created_dirs.append(directory)

    def commit(self) -> None:
        """Rename every temporary file into place."""
        for final, temporary in self._pending.items():
            self.current = final
            os.replace(temporary, final)
        self._pending.clear()

    def discard(self) -> None:
        """Remove the temporary paths and the directories created for them (best effort)."""
        for temporary in self._pending.values():
            with contextlib.suppress(OSError):
                os.remove(temporary)
        self._pending.clear()
        for directory in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory)  # only when empty: never removes anything we did not create
        self._created_dirs.clear()

    def blame(self, error: BaseException) -> Optional[OutputError]:
        """:class:`OutputError` naming the output behind a write failure found in ``error``'s chain
        (Beam wraps worker errors in RuntimeError), or None when it is not one or concerns another path."""
        failure = _write_failure(error)
        if failure is None:
            return None
        filename, reason = failure
        by_temporary = {temporary: final for final, temporary in self._pending.items()}
        path = self.current
        if filename is not None:
            path = next((final for temporary, final in by_temporary.items() if filename.startswith(temporary)), None)
            if path is None and filename not in self._created_dirs and filename != self.current:
                return None  # e.g. an input that vanished: not ours to explain
            path = path or filename
        if path is None:
            return None
        return OutputError(f"{path}: cannot write: {reason}")


# TensorFlow's file layer (tf.io.gfile) reports write failures as these, not as OSError; the same
# types also mean e.g. out-of-memory, so only messages carrying a file-system reason count.
_TENSORFLOW_WRITE_ERRORS = ("ResourceExhaustedError", "PermissionDeniedError")
_FILE_SYSTEM_REASONS = (os.strerror(errno.ENOSPC), os.strerror(errno.EACCES), os.strerror(errno.EROFS))


def _write_failure(error: BaseException) -> Optional[Tuple[Optional[str], str]]:
    """``(filename or None, reason)`` of the first OSError (or TensorFlow file error) in the chain."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError):
            filename = os.fspath(error.filename) if error.filename is not None else None
            return filename, error.strerror or str(error)
        message = str(getattr(error, "message", error))
        if (type(error).__module__.startswith("tensorflow") and type(error).__name__ in _TENSORFLOW_WRITE_ERRORS
                and any(reason in message for reason in _FILE_SYSTEM_REASONS)):
            return None, message.rsplit("; ", 1)[-1]
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


@contextlib.contextmanager
def atomic_outputs() -> Iterator[OutputFiles]:
    """Context manager yielding an :class:`OutputFiles`; publishes every reserved path on success.

    On failure nothing reserved is published; an ``OSError`` about a reserved path (or an
    anonymous one, e.g. ``ENOSPC`` on write or close), also when wrapped by Beam or raised by
    TensorFlow's file layer, is re-raised as :class:`OutputError`.
    """
    files = OutputFiles()
    try:
        yield files
        files.commit()
    except BaseException as error:
        # An InputError already says what is wrong (its context may hold the OSError it explains).
        blamed = files.blame(error) if isinstance(error, Exception) and not isinstance(error, InputError) else None
        files.discard()
        if blamed is not None:
            raise blamed from error
        raise


def output_group(files: Optional[OutputFiles]):
    """``files`` itself (published by its owner), or a new :func:`atomic_outputs` group."""
    return contextlib.nullcontext(files) if files is not None else atomic_outputs()


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[str]:
    """One output: yields the temporary path to write; renamed to ``path`` on success."""
    with atomic_outputs() as files:
        yield files.reserve(path)
