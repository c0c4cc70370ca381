"""`loop-stub`: run the stub Loop on LOOP_NODE_PORT (default 8000)."""

from __future__ import annotations

from loop_shared.server import run_node

from .app import create_app
from .settings import StubSettings


def main() -> None:
    run_node(StubSettings, create_app, "stub Loop")


if __name__ == "__main__":
    main()
