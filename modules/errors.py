"""Domain exceptions. The API maps them to HTTP status codes in one place (modules/api/errors.py)."""
from __future__ import annotations


class EaselError(Exception):
    """Base of every error Easel raises on purpose. `status_code` is the HTTP status it maps to."""

    status_code = 500

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers: dict[str, str] | None = None  # extra HTTP response headers for this error


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
    """The task queue is at its bound; `retry_after` (seconds) is sent as the Retry-After header."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int = 1, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class ConflictError(EaselError):
    """The request clashes with existing state (e.g. a task id already in use)."""

    status_code = 409


class ForbiddenError(EaselError):
    """Access refused: a bad or expired signed link, another user's task."""

    status_code = 403


class InterruptedError_(EaselError):
    """A generation was interrupted before producing any image."""

    status_code = 409


class StorageUnavailableError(EaselError):
    """The object store (OSS, S3) could not be reached or refused Easel's credentials after bounded retries.
    The message names the store and the cause, never a secret; `Retry-After` tells clients when to try again."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int = 5, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class GoneError(EaselError):
    """The thing existed but was deleted on purpose (a stored result past its retention period)."""

    status_code = 410


class QueueUnavailableError(EaselError):
    """The shared task queue (Redis, `--redis-url`) could not be reached; `Retry-After` says when to try again.
    The message names the address without its password."""

    status_code = 503

    def __init__(self, message: str, *, retry_after: int = 5, field: str | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


def error_with_status(message: str, status_code: int | None) -> EaselError:
    """An error carrying a given HTTP status (a task's stored error, raised again where its caller waits)."""
    kinds = {cls.status_code: cls for cls in (InvalidRequestError, NotFoundError, ForbiddenError, ConflictError,
                                                  GoneError, StorageUnavailableError)}
    error = kinds.get(status_code or 500, EaselError)(message)
    error.status_code = status_code or EaselError.status_code
    return error
