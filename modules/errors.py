"""Domain exceptions. The API maps them to HTTP status codes in one place (modules/api/errors.py)."""
from __future__ import annotations


class EaselError(Exception):
    """Base of every error Easel raises on purpose. `status_code` is the HTTP status it maps to."""

    status_code = 500

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequestError(EaselError):
    """The caller sent something unusable; `field` names the offending request field."""

    status_code = 422


class NotFoundError(EaselError):
    status_code = 404


class ModelNotFoundError(NotFoundError):
    """A checkpoint, VAE, LoRA or other model named by the caller does not exist."""


class ModelLoadError(EaselError):
    """A model file exists but cannot be loaded (unsafe pickle, unknown architecture, corrupt file)."""

    status_code = 422


class ForbiddenPathError(EaselError):
    """A path escapes the data dir (traversal, symlink, other root)."""

    status_code = 403


class QueueFullError(EaselError):
    status_code = 429


class InterruptedError_(EaselError):
    """A generation was interrupted before producing any image."""

    status_code = 409
