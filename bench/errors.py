"""Errors the CLI reports as one line and exit status 2."""


class BenchError(Exception):
    """Base class: the message says what failed, the value, and what to do next."""


class DataError(BenchError):
    """A data file is missing, truncated, malformed or fails its checksum."""


class UsageError(BenchError):
    """An argument names something that does not exist or cannot be done."""
