"""Shared client module for Learning Loop nodes.

Submodules: `settings` (LOOP_* configuration), `loop_client` (REST), `loop_socket` (Socket.IO), `schemas` (wire
models), `model_package` (model zips), `plugins` (LOOP_*_LOGIC loading), `backoff`, `logs`, `identity`.
"""

__version__ = "0.1.0"
