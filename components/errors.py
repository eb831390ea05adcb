"""The project's one user-input error, at the bottom of the import graph (no dependencies)."""


class InputError(ValueError):
    """A problem with user-supplied input: the message names the file/line/record and the fix.

    The CLI prints the message alone (no traceback) and exits with status 2.
    """
