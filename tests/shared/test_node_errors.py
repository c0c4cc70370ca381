"""One handler per app maps a node's typed errors to their status codes (`loop_shared.node_errors`)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from loop_shared.node_errors import ErrorDetail, NodeError, error_responses, install_error_handler


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


def test_a_405_names_every_method_of_its_path_and_error_answers_are_documented() -> None:
    app = FastAPI()
    install_error_handler(app, "test")

    @app.get("/thing/{name}", responses=error_responses(404, 422))
    def get_thing(name: str) -> None:
        raise Gone(name)

    @app.delete("/thing/{name}")
    def delete_thing(name: str) -> None:
        return None

    # Starlette alone names only the methods of the first route it matched (GET here)
    answer = TestClient(app).put("/thing/a")
    assert answer.status_code == 405 and answer.headers["allow"] == "DELETE, GET"
    assert answer.json() == {"detail": "Method Not Allowed"}
    responses = app.openapi()["paths"]["/thing/{name}"]["get"]["responses"]
    assert set(responses) == {"200", "404", "422"}  # ours replace FastAPI's HTTPValidationError for 422
    assert responses["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorDetail"}
    ErrorDetail.model_validate(TestClient(app).get("/thing/a").json())
