"""The annotator's memory stays bounded: 10,000 user inputs from 200 people (boxes, clicks, moves, confirms,
Escapes, and some garbage) on a process with room for 50 histories. Asserted: every input answered in the §4.2
shape, no crash, at most 50 histories kept, and the process's resident memory grew by a bounded amount."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from loop_testkit.processes import Service, free_port, wait_until
from tests.annotator.loop_kit import AnnotatorLoop, annotator_env, jpegs_of
from tests.annotator.scene_kit import box_of, scene, user_input

PEOPLE, GROUP, CYCLES, STEPS, MAX_HISTORIES = 200, 40, 5, 10, 50
RSS_GROWTH_LIMIT = 150 * 2**20  # far below what unbounded histories of 200 people with their images would need


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def script(person: int, step: int, box: tuple[int, int, int, int]) -> dict[str, Any] | str:
    """What person `person` does at `step`: a box, moves, corrections, Enter or Escape now and then, garbage."""
    frontend, image = f"person-{person}", f"img-{person % 4}"
    x0, y0, x1, y1 = box
    phase = step % 10
    if phase == 0:
        return user_input("left_mouse_down", x0, y0, frontend_id=frontend, image_uuid=image)
    if phase in (1, 2, 3, 5, 6):
        return user_input("mouse_move", x0 + step, y0 + phase, frontend_id=frontend, image_uuid=image)
    if phase == 4:
        return user_input("left_mouse_up", x1, y1, frontend_id=frontend, image_uuid=image)
    if phase == 7:
        return user_input("right_mouse_up", x0 + 1, y0 + 1, frontend_id=frontend, image_uuid=image)
    if phase == 8:
        return "garbage" if person % 7 == 0 else user_input("key_down", 0, 0, frontend_id=frontend,
                                                              image_uuid=image, key_down="a")
    key = "Escape" if person % 3 == 0 else "Enter"
    return user_input("key_up", 0, 0, frontend_id=frontend, image_uuid=image, key_up=key)


def test_10000_inputs_from_200_people_stay_within_the_bounds(tmp_path: Path,
                                                             start_node: Callable[..., Service]) -> None:
    scenes = {f"img-{i}": scene(10 + i, width=320, height=240) for i in range(4)}
    loop = AnnotatorLoop(jpegs_of({name: image for name, (image, _) in scenes.items()}))
    boxes = {name: box_of(masks[0]) for name, (_, masks) in scenes.items()}
    with loop.running():
        node = start_node("loop-annotator", annotator_env(loop.host, tmp_path / "annotator", free_port(),
                                                          LOOP_MAX_HISTORIES=str(MAX_HISTORIES)))
        wait_until(lambda: loop.events("update_annotation_node"), 30, "the annotator's first status")
        assert node.proc is not None
        warm = loop.call_many([("handle_user_input", (script(p, 0, boxes[f"img-{p % 4}"]),)) for p in range(8)])
        assert all(ack["success"] for ack in warm)
        before = rss(node.proc.pid)
        answered = 0
        # groups of 40 people at once annotate one object each (10 inputs); 5 groups, 5 times over: every
        # group's histories push the previous group's out
        for _cycle in range(CYCLES):
            for first in range(0, PEOPLE, GROUP):
                for step in range(STEPS):
                    calls = [("handle_user_input", (script(p, step, boxes[f"img-{p % 4}"]),))
                             for p in range(first, first + GROUP)]
                    acks = loop.call_many(calls)
                    for ack in acks:
                        assert isinstance(ack, dict) and set(ack) == {"success", "error_msg", "payload"}, ack
                        assert ack["success"] or (ack["error_msg"] and "\n" not in ack["error_msg"]), ack
                    answered += len(acks)
        assert answered == PEOPLE * CYCLES * STEPS == 10_000
        assert node.proc.poll() is None
        status = httpx.get(node.url + "/status").json()
        assert status["events"] >= 10_000
        assert status["bounds"]["histories"] <= MAX_HISTORIES
        assert status["bounds"]["dropped"]["count"] > 0  # the bound was reached and held, not merely unreached
        grown = rss(node.proc.pid) - before
        print(f"RSS grew by {grown / 2**20:.1f} MB over 10,000 inputs; {status['bounds']}")
        assert grown < RSS_GROWTH_LIMIT
        assert loop.events("update_segmentation_annotation")  # the confirms reached the Loop
