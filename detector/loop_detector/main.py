"""`loop-detector`: run the detector node on LOOP_NODE_PORT (default 8004)."""

from __future__ import annotations

from loop_shared.server import run_node

from .app import create_app
from .settings import DetectorSettings


def main() -> None:
    run_node(DetectorSettings, create_app, "detector")


if __name__ == "__main__":
    main()
