"""Errors of a web request: each carries the HTTP status the page receives with its message.

Any other :class:`~vaekit.errors.VaekitError` raised by the layers below (a bad label, data that
cannot be loaded, no fitted detector) is a 400 with its own message.
"""

from __future__ import annotations

from vaekit.errors import VaekitError


class RequestError(VaekitError):
    """A request the server cannot answer as asked (400)."""

    status = 400


class RunNotFound(RequestError):
    """A run name that is not a run directory inside the served root (404)."""

    status = 404


class PayloadTooLarge(RequestError):
    """An upload over the byte or pixel cap (413)."""

    status = 413


class Unauthorized(RequestError):
    """A request without the server's token (401)."""

    status = 401
