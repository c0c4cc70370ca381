"""`loop-converter`: run the converter node (status API on LOOP_NODE_PORT, default 8006)."""

from __future__ import annotations

from loop_shared.server import run_node

from .app import create_app
from .settings import ConverterSettings


def main() -> None:
    run_node(ConverterSettings, create_app, "converter")


if __name__ == "__main__":
    main()
