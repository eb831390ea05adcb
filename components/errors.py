"""The project's one user-input error, at the bottom of the import graph (no dependencies)."""


class InputError(ValueError):
    """A problem with user-supplied input: the message names the file/line/record and the fix.

    The CLI prints the message alone (no traceback) and exits with status 2.
    """


class OutputError(InputError):
    """An output path cannot be written (permissions, disk full, a parent that is a file).

    The user fixes it, so the CLI treats it like :class:`InputError`: one line naming the path, exit 2.
    """
