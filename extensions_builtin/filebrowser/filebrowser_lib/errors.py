"""FileBrowser's own domain errors (the app maps every `EaselError` to the A1111 error JSON).

`ConflictError` (409: the target exists, or a tus offset does not match) is the core one, re-exported here.
"""
from __future__ import annotations

from modules.errors import ConflictError, EaselError

__all__ = ["BadRequestError", "ConflictError", "GoneError", "InsufficientStorageError", "PayloadTooLargeError",
           "PreconditionFailedError", "ReadOnlyError", "UnsupportedMediaTypeError"]


class BadRequestError(EaselError):
    """A malformed tus protocol header (the tus spec asks for 400, not 422)."""

    status_code = 400


class GoneError(EaselError):
    """A tus upload that expired and was removed."""

    status_code = 410


class PreconditionFailedError(EaselError):
    """A tus request without `Tus-Resumable: 1.0.0`."""

    status_code = 412


class PayloadTooLargeError(EaselError):
    """An upload larger than Tus-Max-Size, or a PATCH body past Upload-Length."""

    status_code = 413


class UnsupportedMediaTypeError(EaselError):
    """A tus PATCH without `Content-Type: application/offset+octet-stream`."""

    status_code = 415


class InsufficientStorageError(EaselError):
    """Not enough free disk space for the announced Upload-Length."""

    status_code = 507


class ReadOnlyError(EaselError):
    """A write route while the FileBrowser runs with --filebrowser-readonly."""

    status_code = 403
