"""Errors the user can fix; the runner prints them as one line instead of a traceback."""


class AddaError(Exception):
    """Bad input (config, data, checkpoint) that the user can fix; the message names the fix."""


class ConfigError(AddaError, ValueError):
    """A config value or name is wrong."""


class DataError(AddaError, FileNotFoundError):
    """Data is missing or corrupt."""
