"""The one error type of compression: a bad file, a file for another model, or data a model cannot code."""

from __future__ import annotations

from vaekit.errors import VaekitError


class CompressionError(VaekitError):
    """A compressed file that is truncated, corrupt or made by another model, or data the model cannot code."""
