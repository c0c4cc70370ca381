"""`loop-stub`: the stub Loop, a test double of the Learning Loop for local runs and tests.

Serves the Loop's REST and Socket.IO API the nodes use, a status page and offline /docs on LOOP_NODE_PORT
(default 8000), and keeps its projects, images and models in LOOP_DATA_DIR. Without LOOP_USERNAME any login is
accepted.
"""

from __future__ import annotations

from loop_shared.cli import parse_command_line
from loop_shared.server import run_node

from .settings import StubSettings


def main() -> None:
    parse_command_line("loop-stub", __doc__ or "", StubSettings)
    from .app import create_app  # only now: --help imports neither the app nor its plugin

    run_node(StubSettings, create_app, "stub Loop")


if __name__ == "__main__":
    main()
