"""Errors a user can act on. Each carries a one-line message that the CLI and the UI show as is."""


class EngineError(Exception):
    """A problem with the user's input or files, reported in one line, never as a traceback."""


class ConfigError(EngineError):
    """One or more invalid hyperparameters; the message lists every problem at once."""


class CorpusError(EngineError):
    """The corpus file is missing, unreadable, not UTF-8, or too short to train on."""


class CheckpointError(EngineError):
    """A run directory's files are missing, corrupt, truncated or do not match each other."""


class WriteError(EngineError):
    """A run's file could not be written (disk full, file too large, no permission): the OS's
    reason and the path, e.g. "cannot write runs/x/events.jsonl: No space left on device"."""
