"""Errors raised by the shared Loop client."""

from __future__ import annotations


class LoopError(Exception):
    """Base class of everything the Loop client raises."""


class LoopUnavailableError(LoopError):
    """The Loop could not be reached, or kept answering 5xx, after every retry."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class LoopAuthError(LoopError):
    """The Loop refused the login."""


class LoopResponseError(LoopError):
    """The Loop answered with an unexpected status or body."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ModelPackageError(Exception):
    """A model zip is unsafe, too large, malformed or lacks model.json."""


class PluginError(Exception):
    """A `LOOP_*_LOGIC` import path could not be turned into a usable plugin class."""


class PluginImportError(PluginError):
    """The import path does not name an importable class."""


class PluginTypeError(PluginError):
    """The class exists but does not implement the required base class."""
