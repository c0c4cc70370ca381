"""Load a plugin class named by a `LOOP_*_LOGIC` import path such as `my_pkg.logic:MyLogic`."""

from __future__ import annotations

import importlib
import inspect
from typing import TypeVar

from .errors import PluginImportError, PluginTypeError

T = TypeVar("T")


def load_plugin_class(import_path: str, base: type[T], variable: str) -> type[T]:
    """Import `module:Class` (or `module.Class`) and check it is a concrete subclass of `base`.

    Raises PluginImportError when it cannot be imported and PluginTypeError when it is not a usable `base`.
    """
    module_name, sep, attr = import_path.partition(":")
    if not sep:
        module_name, _, attr = import_path.rpartition(".")
    if not module_name or not attr:
        raise PluginImportError(f"{variable}={import_path!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # any import-time failure of user code is reported the same way
        raise PluginImportError(f"{variable}={import_path!r}: cannot import {module_name!r}: {e}") from e
    cls = getattr(module, attr, None)
    if cls is None:
        raise PluginImportError(f"{variable}={import_path!r}: module {module_name!r} has no attribute {attr!r}")
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        raise PluginTypeError(f"{variable}={import_path!r}: {attr} does not implement {base.__name__}")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise PluginTypeError(f"{variable}={import_path!r}: {attr} does not implement {base.__name__} "
                              f"(abstract methods left: {missing})")
    return cls
