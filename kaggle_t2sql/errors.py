"""Errors a user can act on. The CLI prints their message and exits 2, no traceback."""


class T2SQLError(Exception):
    """Base class: the message names the problem and the fix."""


class ConfigError(T2SQLError):
    """A bad preset, key or value in the run configuration."""


class DataError(T2SQLError):
    """Bad input data: missing database, malformed line, empty dataset, broken SQL."""
