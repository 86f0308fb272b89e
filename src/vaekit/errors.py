"""Every user-facing error is a :class:`VaekitError`; the CLI prints its message on one line and
exits with its ``exit_code`` (1, or 130 for an interrupted run, as shells expect after Ctrl-C)."""

from __future__ import annotations


class VaekitError(Exception):
    """Base class: the message says what went wrong and what to do about it."""

    exit_code: int = 1


class ConfigError(VaekitError):
    """A config key that does not exist, a value of the wrong type, or a bad combination."""


class DataError(VaekitError):
    """A dataset that cannot be found, read or used."""


class DatasetNotFoundError(DataError):
    """An unknown dataset name, or data files that are not where we looked."""


class DataFormatError(DataError):
    """A file that exists but is corrupt, truncated, empty or of the wrong kind."""


class DownloadError(DataError):
    """A download that failed or whose checksum did not match."""


class RunDirError(VaekitError):
    """A path that is not a vaekit run directory, or one missing a file it needs."""


class CheckpointError(RunDirError):
    """Weights that do not match the config, or a damaged checkpoint file."""


class TrainingError(VaekitError):
    """Training cannot go on (for example repeated NaN losses)."""


class ModelError(VaekitError):
    """An unknown model part or an input the model cannot take."""


class RunInUseError(RunDirError):
    """A run directory another process is writing (it holds the directory's lock)."""


class TrainingInterrupted(TrainingError):
    """Ctrl-C (SIGINT) during training; the last finished epoch is saved."""

    exit_code = 130


class OutputError(VaekitError):
    """A file or folder that cannot be written: disk full, read-only, a file in the way."""
