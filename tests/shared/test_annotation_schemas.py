"""The annotation wire models (loop_shared/schemas/annotation.py), one definition for the annotator and the stub Loop:
strict where the reference's dacite is, any event_type string, unknown keys kept so the Loop forwards verbatim."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from loop_shared.schemas import AnnotationEventType, AnnotationNodeStatus, UserInput


def raw(**data: Any) -> dict[str, Any]:
    base = {"coordinate": {"x": 10, "y": 12}, "event_type": "left_mouse_down",
            "context": {"organization": "o", "project": "p"}, "image_uuid": "img-1",
            "category": {"id": "c-1", "name": "blob", "type": "segmentation", "color": "#f08c1e"}}
    return {"frontend_id": "person-1", "data": {**base, **data}}


def test_a_user_input_of_the_reference_parses_and_dumps_as_it_came() -> None:
    sent = raw(key_up="Enter", epsilon=2.5, is_shift_key_pressed=False, from_a_newer_loop={"k": 1})
    sent["data"]["category"] = sent["data"]["category"] | {"point_size": 3, "future": True}
    parsed = UserInput.model_validate(sent)
    assert parsed.data.coordinate.x == 10 and parsed.data.category.color == "#f08c1e"
    assert parsed.data.event_type == AnnotationEventType.LEFT_MOUSE_DOWN
    assert parsed.model_dump(mode="json", exclude_unset=True) == sent  # unknown keys too


@pytest.mark.parametrize(("data", "where"), [
    ({"coordinate": {"x": 1.5, "y": 2}}, "coordinate"),
    ({"coordinate": {"x": 12.0, "y": 2}}, "coordinate"),
    ({"coordinate": {"x": "12", "y": 2}}, "coordinate"),
    ({"image_uuid": 7}, "image_uuid"),
    ({"category": {"id": 1, "name": "x"}}, "category"),
    ({"context": {"organization": "o"}}, "context"),
    ({"is_shift_key_pressed": "yes"}, "is_shift_key_pressed"),
])
def test_what_dacite_would_refuse_is_refused_with_where(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as e:
        UserInput.model_validate(raw(**data))
    assert where in str(e.value.errors()[0]["loc"])


def test_any_event_type_string_and_a_required_frontend_id() -> None:
    assert UserInput.model_validate(raw(event_type="wheel")).data.event_type == "wheel"
    with pytest.raises(ValidationError):
        UserInput.model_validate({"data": raw()["data"]})


def test_the_node_status_has_the_reference_defaults() -> None:
    status = AnnotationNodeStatus(id="n", name="drawer", capabilities=["segmentation"])
    assert status.model_dump(mode="json") == {"id": "n", "name": "drawer", "state": "online", "uptime": 0,
                                               "errors": {}, "capabilities": ["segmentation"]}
    assert '"uptime":0,' in status.model_dump_json()  # integer seconds, as the reference's int
    with pytest.raises(ValidationError):
        AnnotationNodeStatus.model_validate({"name": "no id"})
