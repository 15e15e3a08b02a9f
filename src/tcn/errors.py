"""Errors the CLI reports as a message (what was expected, what was found, what to do)."""


class TcnError(Exception):
    """A user-facing error: printed without a traceback by the ``tcn`` CLI."""


class BagError(TcnError):
    """A bag that cannot be read as asked; the message names the file."""


class DatasetError(TcnError):
    """A dataset directory that does not hold what was asked for."""
