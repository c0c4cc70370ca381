"""`loop-annotator`: the annotation node.

Connects to the Loop over Socket.IO as an annotation node of LOOP_ORGANIZATION/LOOP_PROJECT. When a person
annotates an image in the Loop, each of their inputs (mouse, keys) comes here: the plugin named in
LOOP_ANNOTATOR_LOGIC (default: GrabCut seeded by a box and clicks) answers the outline as SVG, and a confirmed
outline is sent to the Loop as a segmentation annotation. Its status API answers on LOOP_NODE_PORT (default 8007).
"""

from __future__ import annotations

from loop_shared.cli import parse_command_line
from loop_shared.server import run_node

from .settings import AnnotatorSettings


def main() -> None:
    parse_command_line("loop-annotator", __doc__ or "", AnnotatorSettings)
    from .app import create_app  # only now: --help imports neither the app nor its plugin

    run_node(AnnotatorSettings, create_app, "annotator")


if __name__ == "__main__":
    main()
