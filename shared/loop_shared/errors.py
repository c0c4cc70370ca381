"""Errors raised by the shared Loop client and the typed Loop API.

What a caller may want to do about an answer decides the class, not the status code: the API turns each answer
into one of these once (`loop_api`), so no node branches on a status code of its own.

    LoopError
    ├── LoopUnavailableError      unreachable, 5xx or 408 after the retries: try again later
    │   └── LoopRateLimitedError  429 after the retries; `retry_after` seconds when the Loop said so
    ├── LoopAuthError             the login itself was refused
    └── LoopResponseError         an answer the caller did not expect (a body that is not the model, say)
        └── LoopRefusedError      any other 4xx: repeating the same request will not help
            ├── LoopUnauthorisedError  401, even after a fresh login
            ├── LoopNotFoundError      404
            ├── LoopConflictError      409; `detail` is what the Loop said (e.g. `{"id": ...}`)
            └── LoopInvalidError       413 or 422: the content itself was refused
"""

from __future__ import annotations

from typing import Any


class LoopError(Exception):
    """Base class of everything the Loop client raises."""


class LoopUnavailableError(LoopError):
    """The Loop could not be reached, or kept answering 5xx, after every retry."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class LoopRateLimitedError(LoopUnavailableError):
    """The Loop kept answering 429; `retry_after` is its Retry-After in seconds (None when it sent none)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class LoopAuthError(LoopError):
    """The Loop refused the login."""


class LoopResponseError(LoopError):
    """The Loop answered with an unexpected status or body."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class LoopRefusedError(LoopResponseError):
    """A 4xx answer: the Loop understood the request and will not do it; repeating it will not help."""


class LoopUnauthorisedError(LoopRefusedError):
    """401, also after logging in again."""


class LoopNotFoundError(LoopRefusedError):
    """404: the project, model, format or image does not exist (yet)."""


class LoopConflictError(LoopRefusedError):
    """409: the thing exists already; `detail` holds what the Loop said about it."""

    def __init__(self, message: str, status_code: int | None = 409, detail: Any = None) -> None:
        super().__init__(message, status_code)
        self.detail = detail


class LoopInvalidError(LoopRefusedError):
    """413 or 422: the content of the request was refused (too large, or malformed)."""


class ModelPackageError(Exception):
    """A model zip is unsafe, too large, malformed or lacks model.json."""


class PluginError(Exception):
    """A `LOOP_*_LOGIC` import path could not be turned into a usable plugin class."""


class PluginImportError(PluginError):
    """The import path does not name an importable class."""


class PluginTypeError(PluginError):
    """The class exists but does not implement the required base class."""
