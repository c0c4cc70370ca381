"""One handler per app maps a node's typed errors to their status codes (`loop_shared.node_errors`)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from loop_shared.node_errors import NodeError, install_error_handler


class Gone(NodeError):
    status_code = 410


def test_node_errors_answer_their_status_and_message_and_anything_else_a_500_without_internals() -> None:
    app = FastAPI()
    install_error_handler(app, "test")

    @app.get("/gone")
    def gone() -> None:
        raise Gone("the model was deleted; pick another version")

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("secret=hunter2")

    # ours are answered by the app itself: the exception never reaches the server's error middleware
    answer = TestClient(app).get("/gone")
    assert answer.status_code == 410 and answer.json() == {"detail": "the model was deleted; pick another version"}
    answer = TestClient(app, raise_server_exceptions=False).get("/bug")
    assert answer.status_code == 500 and answer.json() == {"detail": "internal error; see the test log"}
    assert "hunter2" not in answer.text
