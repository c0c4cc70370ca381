"""Socket.IO answers encoded in the inference thread (loop_detector.sio_server.Encoded): the acknowledgement a
client receives is the one python-socketio would have encoded from the answer's dicts."""

from __future__ import annotations

import json

from socketio import packet

from loop_detector.sio_server import Encoded, _Packet
from loop_shared.schemas import BoxDetection, ImageMetadata, SegmentationDetection


def answer() -> ImageMetadata:
    return ImageMetadata.model_validate({
        "box_detections": [BoxDetection(category_name="kiste", category_id="c1", x=1, y=2, width=3, height=4,
                                        model_name="1.0", confidence=0.875).model_dump()],
        "segmentation_detections": [SegmentationDetection.model_validate({
            "category_name": "Blüte ✿", "category_id": "c2", "model_name": "1.0", "confidence": 0.9,
            "shape": {"points": [{"x": 3, "y": 4}, {"x": 10, "y": 4}, {"x": 7, "y": 9}]}}).model_dump()],
        "tags": ["a\"b"], "image_size": {"width": 640, "height": 480}})


def decoded(encoded: str) -> tuple[str, object]:
    """The packet type and id, and its data as the client reads them."""
    start = encoded.index("[")
    return encoded[:start], json.loads(encoded[start:])


def test_an_encoded_answer_is_acknowledged_as_its_dict_would_be() -> None:
    metadata = answer()
    ours = _Packet(packet.ACK, namespace="/", id=7, data=[Encoded(metadata.model_dump_json())]).encode()
    theirs = packet.Packet(packet.ACK, namespace="/", id=7, data=[metadata.model_dump(mode="json")]).encode()
    assert decoded(ours) == decoded(theirs)
    assert ours.startswith("37[")  # an ACK, not a binary one: nothing to attach
    assert decoded(ours)[1] == [metadata.model_dump(mode="json")]


def test_other_answers_and_events_are_encoded_and_decoded_as_before() -> None:
    for data in [[{"error": "could not parse image from data"}], [{"status": "OK"}], [], ["text", 3, None]]:
        assert _Packet(packet.ACK, namespace="/", id=2, data=data).encode() == \
            packet.Packet(packet.ACK, namespace="/", id=2, data=data).encode()
    received = '451-0["detect",{"image":{"format":"jpeg","bytes":{"_placeholder":true,"num":0}}}]'
    ours, theirs = _Packet(encoded_packet=received), packet.Packet(encoded_packet=received)
    assert (ours.packet_type, ours.id, ours.data, ours.attachment_count) == \
        (theirs.packet_type, theirs.id, theirs.data, theirs.attachment_count)
