"""Container health check: `python3 -m loop_shared.healthcheck /ready` exits 0 when the node answers 200.

It asks the node on 127.0.0.1 at LOOP_NODE_PORT, so the same check serves every node image.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from .settings import NodeSettings, load_settings


def main(argv: list[str]) -> int:
    path = argv[0] if argv else "/health"
    port = load_settings(NodeSettings).node_port
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
