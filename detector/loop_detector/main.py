"""`loop-detector`: the detector node.

Serves object detection over REST and Socket.IO on LOOP_NODE_PORT (default 8004) with the model the Loop deploys
to this project, and sends the images worth labelling back to the Loop (active learning). The inference is done
by the plugin named in LOOP_DETECTOR_LOGIC (default: ONNX Runtime).
"""

from __future__ import annotations

from loop_shared.cli import parse_command_line
from loop_shared.server import run_node

from .settings import DetectorSettings


def main() -> None:
    parse_command_line("loop-detector", __doc__ or "", DetectorSettings)
    from .app import create_app  # only now: --help imports neither the app nor its plugin

    run_node(DetectorSettings, create_app, "detector")


if __name__ == "__main__":
    main()
