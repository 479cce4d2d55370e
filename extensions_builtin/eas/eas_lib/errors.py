"""The one exception type of the shim: an HTTP status plus a message for `parameters.error_msg`."""
from __future__ import annotations


class EasError(Exception):
    """A managed-service request failure. `status` is the HTTP status answered (also `parameters.status`)."""

    def __init__(self, status: int, message: str, *, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def bad_request(message: str, field: str | None = None) -> EasError:
    """422: the request itself is unusable (wrong type, bad URL, not an image, too large)."""
    return EasError(422, message, field=field)


def forbidden(message: str, field: str | None = None) -> EasError:
    """403: a path outside the data dir, or a link to an address that is not allowed."""
    return EasError(403, message, field=field)


def not_found(message: str, field: str | None = None) -> EasError:
    """404: a model (checkpoint, VAE, ControlNet) that is not installed."""
    return EasError(404, message, field=field)
