"""`loop-trainer`: run the trainer node (status API on LOOP_NODE_PORT, default 8005)."""

from __future__ import annotations

from loop_shared.server import run_node

from .app import create_app
from .settings import TrainerSettings


def main() -> None:
    run_node(TrainerSettings, create_app, "trainer")


if __name__ == "__main__":
    main()
